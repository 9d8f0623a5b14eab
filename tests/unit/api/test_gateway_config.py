"""The gateway process configuration."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from switchboard_api.gateway import GatewayConfig
from tests.cases.invalid import example

pytestmark = pytest.mark.unit
HASH = "a" * 64


def _config(**changes: Any) -> dict[str, Any]:
    return {
        "modelPlaneUrl": "http://127.0.0.1:8000",
        "agents": [example("receptionist.yaml")],
        **changes,
    }


def test_a_minimal_config_gets_production_defaults() -> None:
    config = GatewayConfig.model_validate(_config())
    assert (config.grpc_port, config.http_port, config.max_concurrent_calls) == (50051, 8080, 50)
    assert config.store is not None
    assert config.store.url is not None
    assert config.store.url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"apiKeyHashes": {"acme/nobody": [HASH]}}, "acme/nobody"),
        ({"apiKeyHashes": {"acme/receptionist": ["not-a-hash"]}}, "apiKeyHashes"),
        ({"store": {"url": "mysql://db/calls"}}, "store.url"),
        ({"modelPlaneUrl": "ftp://x"}, "modelPlaneUrl"),
        ({"agents": []}, "agents"),
        ({"maxConcurrentCalls": 0}, "maxConcurrentCalls"),
    ],
)
def test_bad_configs_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        GatewayConfig.model_validate(_config(**changes))
