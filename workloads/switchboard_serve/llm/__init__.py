"""Language model engines behind one protocol (`base.LlmEngine`): chat in, reply events out."""
