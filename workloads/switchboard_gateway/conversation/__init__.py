"""Where a call is run: session, listener, responder, the agent's voice."""
