"""The WebSocket transport (browsers): JSON control messages, binary PCM16."""
