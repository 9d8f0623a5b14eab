"""TLS terminated by the gateway: the agent's `kubernetes.io/tls` Secret and what it changes.

Mounted into the pod; the probes' scheme, the Service's app protocols, the scrape scheme and the
status URLs follow.

The operator never reads the Secret: the kubelet mounts it (and swaps the files when
cert-manager renews it) and the gateway re-reads them, so a renewal needs no rollout.
"""

from __future__ import annotations

from switchboard_api import VoiceAgent
from switchboard_api.tls import TlsFilesConfig
from switchboard_operator.naming import Manifest

TLS_DIR = "/etc/switchboard-tls"
TLS_VOLUME = "gateway-tls"
#: The keys of a `kubernetes.io/tls` Secret (cert-manager's too).
CERT_KEY, KEY_KEY = "tls.crt", "tls.key"


def tls_enabled(agent: VoiceAgent) -> bool:
    """Whether the agent's gateway serves TLS itself (`spec.gateway.tls`)."""
    return agent.spec.gateway.tls is not None


def tls_files(agent: VoiceAgent) -> TlsFilesConfig | None:
    """Where the gateway reads its certificate and key; None without TLS."""
    if not tls_enabled(agent):
        return None
    return TlsFilesConfig(cert_file=f"{TLS_DIR}/{CERT_KEY}", key_file=f"{TLS_DIR}/{KEY_KEY}")


def tls_volume(agent: VoiceAgent) -> tuple[Manifest, Manifest] | None:
    """The Secret's volume (read-only, both keys) and its mount; None without TLS."""
    spec = agent.spec.gateway.tls
    if spec is None:
        return None
    items = [{"key": key, "path": key} for key in (CERT_KEY, KEY_KEY)]
    # 0o440 with the pod's fsGroup: readable by the gateway's group, by no other user.
    volume = {
        "name": TLS_VOLUME,
        "secret": {"secretName": spec.secret_name, "items": items, "defaultMode": 0o440},
    }
    mount = {"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True}
    return volume, mount


def probe_scheme(agent: VoiceAgent) -> str:
    """The kubelet's probes speak HTTPS to a TLS gateway (it does not check the certificate)."""
    return "HTTPS" if tls_enabled(agent) else "HTTP"


def with_tls_probes(agent: VoiceAgent, container: Manifest) -> None:
    """Set the scheme of the container's HTTP probes in place."""
    if not tls_enabled(agent):
        return
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if "httpGet" in container.get(probe, {}):
            container[probe]["httpGet"]["scheme"] = probe_scheme(agent)


def app_protocols(agent: VoiceAgent) -> dict[str, str | None]:
    """Each Service port's `appProtocol`: what a proxy or mesh in front must speak to it.

    Plain: gRPC is HTTP/2 with prior knowledge (`kubernetes.io/h2c`), HTTP unmarked. With TLS,
    both are HTTP over TLS, the IANA name `https` (HTTP/2 for gRPC, chosen by ALPN); Kubernetes
    defines no standard name for HTTP/2 over TLS.
    """
    if tls_enabled(agent):
        return {"grpc": "https", "http": "https"}
    return {"grpc": "kubernetes.io/h2c", "http": None}


def with_tls_scrape(agent: VoiceAgent, endpoint: Manifest) -> None:
    """A ServiceMonitor endpoint scrapes over HTTPS when the gateway serves TLS.

    The scraper does not hold the agent's CA, so it encrypts without checking the certificate,
    as the kubelet's probes do; `/metrics` carries no secrets.
    """
    if tls_enabled(agent):
        endpoint["scheme"] = "https"
        endpoint["tlsConfig"] = {"insecureSkipVerify": True}


def endpoint_urls(agent: VoiceAgent, host: str, grpc_port: int, http_port: int) -> dict[str, str]:
    """Status URLs of the gateway Service: `grpcs://`/`wss://` with TLS, else plain."""
    secure = tls_enabled(agent)
    return {
        "grpc": f"{'grpcs://' if secure else ''}{host}:{grpc_port}",
        "websocket": f"{'wss' if secure else 'ws'}://{host}:{http_port}/v1/calls",
    }
