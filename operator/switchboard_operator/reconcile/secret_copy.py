"""Copying one key of an install Secret (release namespace) into a tenant namespace.

The install's stores (the default knowledge store, the call store) are Secrets the chart names in
the operator's namespace; tenant pods can only read Secrets of their own namespace, so the
operator copies the key there (kept in sync on every reconcile). The chart's Role lets the
operator read exactly those Secrets by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from switchboard_operator.conditions import Stall
from switchboard_operator.kube import KubeError
from switchboard_operator.naming import Manifest
from switchboard_operator.reconcile.runtime import Runtime

SECRET = ("v1", "Secret")


@dataclass(frozen=True)
class InstallSecret:
    """Which key of which release-namespace Secret, and how conditions name it."""

    name: str
    key: str
    #: e.g. "the default knowledge store"; messages say "<what>'s Secret ns/name …".
    what: str
    #: The chart value that names the Secret, quoted in messages.
    chart_value: str
    #: Prefix of the condition reasons: `<prefix>SecretUnreadable`, `<prefix>SecretMissing`.
    reason_prefix: str


async def copy_install_secret(
    rt: Runtime,
    source: InstallSecret,
    build: Callable[[str, str, str], Manifest],
    namespace: str,
    tenant: str,
) -> Stall | None:
    """Apply `build(namespace, value_b64, tenant)` from the source key; a Stall says why not."""
    where = f"Secret {rt.settings.operator_namespace}/{source.name}"
    try:
        secret = await rt.kube.get(*SECRET, rt.settings.operator_namespace, source.name)
    except KubeError as error:  # 403: the chart's Role names another Secret
        return Stall(f"{source.reason_prefix}SecretUnreadable", f"{source.what}'s {where}: {error}")
    value = ((secret or {}).get("data") or {}).get(source.key)
    if not value:
        missing = "does not exist" if secret is None else f"has no key {source.key}"
        return Stall(
            f"{source.reason_prefix}SecretMissing",
            f"{source.what}'s {where} {missing} (chart value {source.chart_value})",
        )
    await rt.kube.apply(build(namespace, value, tenant))
    return None
