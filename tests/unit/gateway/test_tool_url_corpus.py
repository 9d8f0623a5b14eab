"""Every hostile URL form, as a tool's URL: refused when the manifest is validated, or refused
by the gateway's SSRF guard when the tool runs; never an exception, never a request.

The forms are the egress corpus (`tests/unit/api/test_egress.py`), which also goes through the
knowledge-base URL source guard there.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from switchboard_api.voiceagent import HttpToolSpec, ToolParameters, ToolSpec
from switchboard_gateway.tools.ssrf import SsrfGuard
from switchboard_gateway.tools.webhooks import ToolRunner
from tests.unit.api.test_egress import HOSTILE, PERMITTED, _resolve_async

pytestmark = pytest.mark.unit


class NoRequests:
    """An HTTP client that fails the test if the runner ever sends anything."""

    def build_request(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a refused destination was sent a request")


def _outcome_error(url: str) -> str:
    """How the URL fares: "validation" when the model refuses it, else the run's error class."""
    try:
        http = HttpToolSpec(url=url, timeout_ms=500, retries=0)
    except ValidationError as error:
        (detail,) = error.errors()
        assert detail["loc"] == ("url",)
        assert "must be an http(s) URL" in detail["msg"], detail["msg"]
        return "validation"
    tool = ToolSpec(name="lookup", description="d", parameters=ToolParameters(), http=http)
    runner = ToolRunner(SsrfGuard(resolve=_resolve_async), client=NoRequests(), environ={})  # type: ignore[arg-type]
    return asyncio.run(runner.run(tool, "{}", "call-1")).error


def test_at_least_a_hundred_forms_are_tried() -> None:
    assert len(HOSTILE) >= 100


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_tool_url_is_refused_at_validation_or_by_the_guard(url: str) -> None:
    assert _outcome_error(url) in {"validation", "refused"}


def test_both_refusals_are_exercised() -> None:
    errors = [_outcome_error(url) for url in HOSTILE]
    assert errors.count("validation") >= 10
    assert errors.count("refused") >= 50


@pytest.mark.parametrize("url", PERMITTED)
def test_public_tool_urls_validate(url: str) -> None:
    assert HttpToolSpec(url=url).url == url
