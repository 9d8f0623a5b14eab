"""HTTP tools against a real local webhook server: signatures, limits, failures, SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import pytest

from switchboard_api.common import SecretKeyRef
from switchboard_api.voiceagent import ToolSpec
from switchboard_gateway.tools.ssrf import RefusedDestinationError, SsrfGuard
from switchboard_gateway.tools.webhooks import (
    SigningSecretError,
    ToolOutcome,
    ToolRunner,
    check_signing_secrets,
    signing_key,
)
from tests.webhooks import ENV, flaky_calls, query_calls, webhook_server

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with webhook_server() as url:
        yield url


def _tool(url: str, **http: object) -> ToolSpec:
    return ToolSpec.model_validate(
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
            "http": {
                "url": url,
                "signingSecretRef": {"name": "tools", "key": "weather"},
                "timeoutMs": 1000,
                **http,
            },
        }
    )


def _run(tool: ToolSpec, arguments: str = '{"city": "Paris"}') -> ToolOutcome:
    runner = ToolRunner(SsrfGuard(["127.0.0.0/8"]), environ=ENV, backoff_s=0)
    return asyncio.run(runner.run(tool, arguments, "call-1"))


def test_a_signed_call_reaches_the_webhook_and_its_json_comes_back(server: str) -> None:
    outcome = _run(_tool(f"{server}/weather"))
    assert outcome == ToolOutcome(True, '{"city":"Paris","forecast":"sunny"}')


def test_a_wrong_signing_secret_is_rejected_by_the_webhook(server: str) -> None:
    wrong = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    runner = ToolRunner(
        SsrfGuard(["127.0.0.0/8"]), environ={"SWITCHBOARD_SECRET_TOOLS_WEATHER": wrong}
    )
    outcome = asyncio.run(runner.run(_tool(f"{server}/weather"), '{"city": "Paris"}', "c"))
    assert (outcome.ok, outcome.error) == (False, "http_status")


def test_failures_are_outcomes_with_an_error_class(server: str) -> None:
    assert _run(_tool(f"{server}/slow")).error == "timeout"
    assert _run(_tool(f"{server}/huge")).error == "result_too_large"
    assert _run(_tool(f"{server}/html")).error == "invalid_result"
    assert _run(_tool(f"{server}/weather"), '{"town": "Paris"}').error == "invalid_arguments"
    assert _run(_tool(f"{server}/weather"), "not json").error == "invalid_arguments"
    for outcome in (_run(_tool(f"{server}/slow")), _run(_tool(f"{server}/html"))):
        assert "error" in json.loads(outcome.content)


def test_transient_statuses_are_retried_within_the_budget(server: str) -> None:
    flaky_calls.clear()
    assert _run(_tool(f"{server}/flaky", retries=1)).ok
    assert len(flaky_calls) == 2


def test_a_missing_signing_secret_is_a_misconfiguration(server: str) -> None:
    runner = ToolRunner(SsrfGuard(["127.0.0.0/8"]), environ={})
    outcome = asyncio.run(runner.run(_tool(f"{server}/weather"), '{"city": "Paris"}', "c"))
    assert outcome.error == "misconfigured"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "ftp://example.com/",
    ],
)
def test_the_guard_refuses_internal_destinations(url: str) -> None:
    with pytest.raises(RefusedDestinationError):
        asyncio.run(SsrfGuard().check(url))


def test_a_hostname_resolving_to_the_metadata_service_is_refused() -> None:
    async def metadata(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    with pytest.raises(RefusedDestinationError, match=r"169\.254\.169\.254"):
        asyncio.run(SsrfGuard(resolve=metadata).check("http://innocent.example/"))

    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(RefusedDestinationError, match=r"10\.0\.0\.7"):
        asyncio.run(SsrfGuard(resolve=mixed).check("http://sneaky.example/"))


def test_public_addresses_pass_and_the_allow_list_opens_private_ones() -> None:
    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    destination = asyncio.run(SsrfGuard(resolve=public).check("https://api.example/x"))
    assert (str(destination.address), destination.host, destination.port) == (
        "93.184.216.34",
        "api.example",
        443,
    )
    assert asyncio.run(SsrfGuard(["10.0.0.0/8"]).check("http://10.1.2.3:8080/")).port == 8080
    assert _run(_tool("http://127.0.0.1:1/weather")).error == "unreachable"


def test_refused_destinations_never_receive_a_request(server: str) -> None:
    runner = ToolRunner(SsrfGuard(), environ=ENV)
    outcome = asyncio.run(runner.run(_tool(f"{server}/weather"), '{"city": "Paris"}', "c"))
    assert (outcome.ok, outcome.error) == (False, "refused")


def test_secret_ref_names_match_the_operator_convention() -> None:
    from switchboard_api.common import secret_env_name

    assert secret_env_name(SecretKeyRef(name="tools", key="weather")) in ENV


def _lookup(url: str, method: str) -> ToolSpec:
    return ToolSpec.model_validate(
        {
            "name": "find_booking",
            "description": "A booking by reference",
            "parameters": {
                "type": "object",
                "properties": {
                    "ref": {"type": "string"},
                    "party": {"type": "integer"},
                    "tags": {"type": "array"},
                },
                "required": ["ref"],
            },
            "http": {
                "url": url,
                "method": method,
                "signingSecretRef": {"name": "tools", "key": "weather"},
                "timeoutMs": 1000,
            },
        }
    )


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_tools_send_their_arguments_as_a_signed_query(
    server: str, method: str
) -> None:
    query_calls.clear()
    arguments = '{"ref": "A&B =7", "party": 4, "tags": ["x", "y"]}'
    outcome = _run(_lookup(f"{server}/lookup?src=agent", method), arguments)
    expected = {"src": "agent", "ref": "A&B =7", "party": "4", "tags": '["x","y"]'}
    assert outcome == ToolOutcome(True, json.dumps({"received": expected}, separators=(",", ":")))
    assert query_calls == [(method, expected, "find_booking", "call-1")]


def test_a_get_tool_signed_with_another_key_is_rejected_by_the_webhook(server: str) -> None:
    wrong = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    runner = ToolRunner(SsrfGuard(["127.0.0.0/8"]), environ={next(iter(ENV)): wrong})
    tool = _lookup(f"{server}/lookup", "GET")
    outcome = asyncio.run(runner.run(tool, '{"ref": "A1"}', "c"))
    assert (outcome.ok, outcome.error) == (False, "http_status")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsec_AAAA", "decodes to 3 bytes"),
        ("whsec_not base64!!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"x" * 20).decode()[:-2], "not valid base64"),
        ("", "is empty"),
    ],
)
def test_an_unusable_signing_secret_fails_at_start_naming_the_tool(
    secret: str, problem: str
) -> None:
    tool = _tool("http://127.0.0.1/weather")
    with pytest.raises(SigningSecretError, match=problem) as raised:
        check_signing_secrets([tool], {next(iter(ENV)): secret})
    assert "tool get_weather: http.signingSecretRef tools/weather" in str(raised.value)


def test_usable_and_unset_signing_secrets_pass_the_start_check() -> None:
    tool = _tool("http://127.0.0.1/weather")
    check_signing_secrets([tool], ENV)
    check_signing_secrets([tool], {})
    assert signing_key("raw-shared-secret") == b"raw-shared-secret"
    assert len(signing_key(ENV[next(iter(ENV))])) >= 16


def test_an_unusable_secret_at_call_time_is_a_misconfigured_outcome(server: str) -> None:
    runner = ToolRunner(SsrfGuard(["127.0.0.0/8"]), environ={next(iter(ENV)): "whsec_AAAA"})
    outcome = asyncio.run(runner.run(_tool(f"{server}/weather"), '{"city": "Paris"}', "c"))
    assert (outcome.ok, outcome.error) == (False, "misconfigured")
    assert "decodes to 3 bytes" in json.loads(outcome.content)["error"]
