"""How the ingress turns what happened to a request into an answer: 4xx, 504 or a logged 500."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from ray.exceptions import RayTaskError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from switchboard_serve.guard import guarded, http_error
from switchboard_serve.limits import ApiError

pytestmark = pytest.mark.unit


def _answer(error: BaseException | None) -> tuple[int, dict[str, object]]:
    async def work() -> Response:
        if error is not None:
            raise error
        return JSONResponse({"ok": True})

    response = asyncio.run(guarded(work(), "embeddings"))
    body = json.loads(bytes(response.body))
    return response.status_code, body.get("error", body)


def test_an_answer_passes_through_untouched() -> None:
    assert _answer(None) == (200, {"ok": True})


def test_a_refusal_raised_in_the_ingress_or_a_replica_is_its_own_status() -> None:
    refused = ApiError(413, "too many tokens", "too_many_tokens", "input")
    for error in (refused, RayTaskError("embed", "Traceback ...", refused)):
        status, body = _answer(error)
        assert status == 413
        assert body == {
            "message": "too many tokens",
            "type": "invalid_request_error",
            "param": "input",
            "code": "too_many_tokens",
        }


def test_a_late_replica_is_a_504_naming_the_endpoint() -> None:
    status, body = _answer(TimeoutError())
    assert status == 504
    assert body["code"] == "timeout"
    assert "embeddings" in str(body["message"])


def test_a_failure_of_our_own_is_a_logged_500_that_does_not_echo_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="switchboard_serve.guard"):
        status, body = _answer(RayTaskError("embed", "tb", RuntimeError("secret detail")))
    assert status == 500
    assert body["type"] == "server_error"
    assert "secret detail" not in str(body["message"])
    assert [r.getMessage() for r in caplog.records] == ["embeddings request failed (RayTaskError)"]


def test_unknown_paths_and_methods_get_openai_style_errors() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/x", "headers": []})
    for status, code in ((404, "not_found"), (405, "method_not_allowed")):
        response = asyncio.run(
            http_error(request, HTTPException(status, headers={"Allow": "POST"}))
        )
        assert response.status_code == status
        assert json.loads(bytes(response.body))["error"]["code"] == code
        assert response.headers["allow"] == "POST"
