"""Where a call's speech recognition, replies and speech come from."""
