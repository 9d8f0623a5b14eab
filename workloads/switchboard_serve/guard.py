"""How the ingress answers: refusals as their 4xx, a late replica as 504, our failures as 500.

The time limits of `switchboard_serve.limits` are applied here: a replica's answer is awaited
under a timeout, and on it the request is cancelled in the replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar, cast

from ray.serve.handle import DeploymentResponse, DeploymentResponseGenerator
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from switchboard_serve.limits import ApiError, refusal

log = logging.getLogger(__name__)
T = TypeVar("T")


async def http_error(request: Request, error: Exception) -> Response:
    """Unknown paths (404) and methods (405) get OpenAI-style errors too."""
    if not isinstance(error, HTTPException):  # registered for HTTPException only
        raise error
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    refused = ApiError(error.status_code, str(error.detail), code).response()
    refused.headers.update(error.headers or {})
    return refused


async def guarded(work: Awaitable[Response], endpoint: str) -> Response:
    """The endpoint's answer; a refusal as its 4xx, a late model as 504, anything else as 500."""
    try:
        return await work
    except TimeoutError:
        message = f"the {endpoint} request ran past its time limit"
        return ApiError(504, message, "timeout").response()
    except Exception as error:
        refused = refusal(error)
        if refused is not None:
            return refused.response()
        log.error("%s request failed (%s)", endpoint, type(error).__name__, exc_info=True)
        return ApiError(500, "the model plane failed the request", "internal_error").response()


async def within(
    response: DeploymentResponse[T] | DeploymentResponseGenerator[T], seconds: float
) -> T:
    """A replica's answer (a `DeploymentResponse`), or `TimeoutError` after `seconds`.

    On the timeout the request is cancelled: the replica's coroutine gets `CancelledError`, but
    an engine call already running in its worker thread finishes first (Python cannot stop it).
    """
    unary = cast(DeploymentResponse[T], response)  # handles type `.remote()` as either
    try:
        async with asyncio.timeout(seconds):
            return await unary
    except TimeoutError:
        unary.cancel()  # type: ignore[no-untyped-call]
        raise


def deadline(seconds: float) -> float:
    """The event loop's time `seconds` from now (for `asyncio.timeout_at`)."""
    return asyncio.get_running_loop().time() + seconds
