"""The model plane: Ray Serve deployments for ASR, LLM, TTS and embeddings."""
