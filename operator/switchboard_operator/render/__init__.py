"""Pure renderers: API objects in, Kubernetes manifests out (no I/O, no kopf)."""
