"""The read and write sides of knowledge-base indexes, shared by the indexer, gateways and CLI.

Index stores (SQLite, PostgreSQL+pgvector), the model plane's embeddings client, rank fusion and
hybrid retrieval. Deployables never import each other, so what more than one needs lives here.
"""
