"""Calls without credentials: an agent open to anyone (a web widget), limited per caller address.

An agent is reachable without an API key or a call token only when its manifest says so
(`spec.access.public.enabled`). Such calls are counted per caller address (an IPv6 caller by its
/64, which one host gets whole) and refused over the limit; calls that carry a valid key or token
are not counted. Behind a proxy (an Ingress or Gateway API route) every caller arrives from the
proxy's address: list the proxies' CIDRs so the gateway takes the caller's address from the
`X-Forwarded-For` they append, and only from them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from switchboard_api._base import ApiModel
from switchboard_api.common import AccessSpec
from switchboard_api.tenant import Cidr


class PublicAccessSpec(ApiModel):
    """Whether callers without credentials are admitted, and how often per address."""

    enabled: Annotated[
        bool,
        Field(description="Admit calls that carry no API key or call token (off by default)."),
    ] = False
    calls_per_minute_per_address: Annotated[
        int,
        Field(
            ge=1,
            le=600,
            alias="callsPerMinutePerAddress",
            description="Calls without credentials one caller address (IPv6: its /64) may start"
            " in any 60 s; more are refused with reason rate_limited.",
        ),
    ] = 6
    trusted_proxy_cidrs: Annotated[
        list[Cidr],
        Field(
            max_length=32,
            alias="trustedProxyCIDRs",
            description="Proxies whose X-Forwarded-For names the caller (an Ingress controller's"
            " or Gateway's pods); from any other peer the header is ignored.",
        ),
    ] = []


class AgentAccessSpec(AccessSpec):
    """Who may call one agent: API keys, call tokens minted with them, origins, the public."""

    public: PublicAccessSpec = PublicAccessSpec()
