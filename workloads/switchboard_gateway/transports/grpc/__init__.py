"""The gRPC transport: `CallService.Converse` bidirectional streams."""
