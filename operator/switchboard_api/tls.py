"""TLS terminated by the gateway process itself: the agent names a `kubernetes.io/tls` Secret.

The Secret (keys `tls.crt`, `tls.key`, as cert-manager writes them) is mounted into the gateway
pod; both ports then speak TLS only (gRPC over TLS, HTTPS and WSS), and a renewed Secret is
picked up by new connections without a rollout.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from switchboard_api._base import ApiModel, ObjectName


class GatewayTlsSpec(ApiModel):
    """The gateway's own TLS: its certificate and key from a Secret in the agent's namespace."""

    #: A `kubernetes.io/tls` Secret (`tls.crt`: the chain, leaf first; `tls.key`: its key).
    secret_name: ObjectName


class TlsFilesConfig(ApiModel):
    """Where a gateway process reads its certificate chain and key (PEM), re-read as they change."""

    cert_file: Annotated[str, Field(pattern=r"^/[^\s]+$")]
    key_file: Annotated[str, Field(pattern=r"^/[^\s]+$")]
