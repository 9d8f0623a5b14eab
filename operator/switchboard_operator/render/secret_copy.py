"""The tenant-namespace copy of one key of an install Secret (`data` stays base64)."""

from __future__ import annotations

from switchboard_operator.naming import LABEL_TENANT, Manifest, labels, metadata


def secret_copy(
    name: str, component: str, key: str, namespace: str, value_b64: str, tenant: str
) -> Manifest:
    """Secret `name` in `namespace` holding `key` (no owner: it outlives any one object)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(
            name, namespace, None, labels(component, name, **{LABEL_TENANT: tenant})
        ),
        "data": {key: value_b64},
    }
