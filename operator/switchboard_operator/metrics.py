"""The operator's own Prometheus metrics (`/metrics` on `metrics_port`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

RECONCILES = Counter(
    "switchboard_operator_reconciles", "Reconciles by resource kind and result.", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "switchboard_operator_reconcile_seconds",
    "Time of one reconcile, API calls included.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
_serving = False


def serve(port: int) -> None:
    """Start the metrics endpoint once per process (port 0 disables it)."""
    global _serving
    if port and not _serving:
        start_http_server(port)
        _serving = True


def observe(kind: str, result: str, seconds: float) -> None:
    """Count one reconcile and its duration."""
    RECONCILES.labels(kind, result).inc()
    RECONCILE_SECONDS.labels(kind).observe(seconds)
