"""The `switchboard` command line: generate CRDs, validate manifests (and later run locally)."""
