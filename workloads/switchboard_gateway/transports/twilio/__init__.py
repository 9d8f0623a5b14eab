"""Twilio Media Streams: the voice webhook, the media WebSocket, REST actions."""
