"""Knowledge-base ingestion: the indexing Job entrypoint and the library local mode uses."""
