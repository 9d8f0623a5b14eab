"""Text embedding engines (knowledge-base indexing and retrieval)."""
