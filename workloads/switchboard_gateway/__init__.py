"""The call gateway: transports and the per-call conversation loop."""
