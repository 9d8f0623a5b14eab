"""What the operator writes into a VoiceAgent's status: endpoints of enabled channels only,
written as merge patches that also remove what is gone."""

from __future__ import annotations

import pytest

from switchboard_api import VoiceAgent
from switchboard_operator.reconcile.agent import endpoints
from switchboard_operator.reconcile.runtime import status_patch

pytestmark = pytest.mark.unit


def agent(**channels: object) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Hi"}, "channels": channels},
        }
    )


def test_endpoints_list_both_default_channels() -> None:
    assert endpoints(agent()) == {
        "grpc": "front-gateway.acme.svc:50051",
        "websocket": "ws://front-gateway.acme.svc:8080/v1/calls",
    }


def test_a_disabled_channel_has_no_endpoint() -> None:
    assert endpoints(agent(websocket={"enabled": False})) == {
        "grpc": "front-gateway.acme.svc:50051"
    }
    assert list(endpoints(agent(grpc={"enabled": False}))) == ["websocket"]


def test_a_status_patch_nulls_keys_that_are_gone_at_any_depth() -> None:
    old = {
        "observedGeneration": 1,
        "endpoints": {"grpc": "g", "websocket": "w"},
        "revision": {"current": "a"},
    }
    new = {"observedGeneration": 2, "endpoints": {"grpc": "g"}}
    assert status_patch(old, new) == {
        "observedGeneration": 2,
        "endpoints": {"grpc": "g", "websocket": None},
        "revision": None,
    }
    assert status_patch(new, new) is None
    assert status_patch(None, new) == new
