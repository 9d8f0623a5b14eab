"""Credentials of cloud providers, read from the environment the operator fills from Secrets."""

from __future__ import annotations

import os

from switchboard_api.common import SecretKeyRef, secret_env_name


class MissingCredentialError(RuntimeError):
    """A spec names a Secret key whose value is not in this process's environment."""


def api_key(ref: SecretKeyRef) -> str:
    """The value of a Secret key, injected as `SWITCHBOARD_SECRET_<NAME>_<KEY>`."""
    name = secret_env_name(ref)
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingCredentialError(f"the API key is not set ({name})")
    return value
