"""What the model may call: dispatch, built-ins, webhooks, the SSRF guard, knowledge search."""
