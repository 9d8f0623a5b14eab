"""jambonz: the WebSocket application API (`ws.jambonz.org`) and its audio stream."""
