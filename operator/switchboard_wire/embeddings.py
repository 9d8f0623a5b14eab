"""The model plane's embeddings endpoint: how many inputs one request may carry.

The model plane refuses a request with more (400, OpenAI-style); the indexer never sends more.
The `KnowledgeBase` API bounds `embedding.batchSize` by the same number (a test ties the two).
"""

from __future__ import annotations

#: Inputs per embeddings request at most.
EMBEDDINGS_MAX_INPUTS = 64
