"""Twilio's REST API through the official client: the documented requests, and clear errors."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from switchboard_gateway.transports.twilio.rest import TwilioRest, TwilioRestError, dial_twiml
from tests.fake_twilio import CALL_SID, FakeTwilio, fake_twilio

pytestmark = pytest.mark.unit

ACCOUNT = "AC" + "a1" * 16
TOKEN = "auth-token-" + "z" * 22
CALLS = f"/2010-04-01/Accounts/{ACCOUNT}/Calls"
T = TypeVar("T")


def xml(text: str) -> ET.Element:
    """TwiML this test made or the client sent (trusted)."""
    return ET.fromstring(text)  # noqa: S314


def with_twilio(work: Callable[[FakeTwilio, TwilioRest], Awaitable[T]], **options: float) -> T:
    async def run() -> T:
        async with fake_twilio() as twilio:
            rest = TwilioRest(ACCOUNT, TOKEN, twilio.url, **options)
            try:
                return await work(twilio, rest)
            finally:
                await rest.aclose()

    return asyncio.run(run())


def failure(status: int, body: object, work: Callable[[TwilioRest], Awaitable[object]]) -> str:
    async def fail(twilio: FakeTwilio, rest: TwilioRest) -> str:
        twilio.failures.append((status, body))
        with pytest.raises(TwilioRestError) as raised:
            await work(rest)
        assert raised.value.status == status
        return str(raised.value)

    return with_twilio(fail)


def test_a_transfer_updates_the_call_with_dial_twiml_under_basic_auth() -> None:
    async def work(twilio: FakeTwilio, rest: TwilioRest) -> FakeTwilio:
        await rest.transfer(CALL_SID, "+15551230000")
        return twilio

    twilio = with_twilio(work)
    [request] = twilio.requests
    assert (request.method, request.path) == ("POST", f"{CALLS}/{CALL_SID}.json")
    assert request.auth == (ACCOUNT, TOKEN)
    assert request.content_type.startswith("application/x-www-form-urlencoded")
    assert set(request.form) == {"Twiml"}
    twiml = xml(request.form["Twiml"][0])
    assert twiml.tag == "Response"
    [dial] = list(twiml)
    assert (dial.tag, dial.text, list(dial)) == ("Dial", "+15551230000", [])


def test_a_sip_target_is_dialled_as_a_sip_noun() -> None:
    async def work(twilio: FakeTwilio, rest: TwilioRest) -> FakeTwilio:
        await rest.transfer(CALL_SID, "sips:desk@pbx.example.com;transport=tls")
        return twilio

    [request] = with_twilio(work).requests
    dial = xml(request.form["Twiml"][0]).find("Dial")
    assert dial is not None
    [sip] = list(dial)
    assert (sip.tag, sip.text) == ("Sip", "sips:desk@pbx.example.com;transport=tls")


def test_dial_twiml_escapes_what_it_is_given() -> None:
    parsed = xml(dial_twiml("sip:a@b.example?x=<y>&z"))
    assert parsed.findtext("Dial/Sip") == "sip:a@b.example?x=<y>&z"


def test_a_hang_up_sets_the_call_status_to_completed() -> None:
    async def work(twilio: FakeTwilio, rest: TwilioRest) -> FakeTwilio:
        await rest.hang_up(CALL_SID)
        return twilio

    [request] = with_twilio(work).requests
    assert (request.method, request.path) == ("POST", f"{CALLS}/{CALL_SID}.json")
    assert request.auth == (ACCOUNT, TOKEN)
    assert request.form == {"Status": ["completed"]}


def test_an_outbound_call_is_created_with_to_from_and_twiml_and_returns_its_sid() -> None:
    twiml = '<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://x.example/m"/></Connect></Response>'

    async def work(twilio: FakeTwilio, rest: TwilioRest) -> tuple[str, FakeTwilio]:
        return await rest.place_call("+15551230000", "+15559870000", twiml), twilio

    sid, twilio = with_twilio(work)
    assert sid == CALL_SID
    [request] = twilio.requests
    assert (request.method, request.path, request.query) == ("POST", f"{CALLS}.json", "")
    assert request.auth == (ACCOUNT, TOKEN)
    assert request.form == {"To": ["+15551230000"], "From": ["+15559870000"], "Twiml": [twiml]}
    stream = xml(request.form["Twiml"][0]).find("Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://x.example/m"


def test_the_client_can_be_used_again_after_it_is_closed() -> None:
    async def work(twilio: FakeTwilio, rest: TwilioRest) -> int:
        await rest.hang_up(CALL_SID)
        await rest.aclose()
        await rest.hang_up(CALL_SID)
        return len(twilio.requests)

    assert with_twilio(work) == 2


def test_twilios_json_error_becomes_one_clear_error_with_status_and_code() -> None:
    body = {
        "code": 20404,
        "message": "The requested resource was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }
    message = failure(404, body, lambda rest: rest.hang_up(CALL_SID))
    assert message == (
        "Twilio hang-up failed: HTTP 404, Twilio error 20404: "
        "Unable to update record: The requested resource was not found"
    )


def test_an_error_never_repeats_the_auth_token_or_the_twiml() -> None:
    twiml = "<Response><Connect><Stream url='wss://secret.example/m'/></Connect></Response>"
    body = {"code": 21205, "message": f"Bad {twiml} for {TOKEN}", "status": 400}
    message = failure(400, body, lambda rest: rest.place_call("+15551230000", "+1555987", twiml))
    assert "Twilio outbound call failed: HTTP 400, Twilio error 21205" in message
    assert TOKEN not in message
    assert "secret.example" not in message


def test_a_server_error_without_a_json_body_is_still_a_clear_error() -> None:
    message = failure(503, "<html>upstream down</html>", lambda rest: rest.transfer(CALL_SID, "+1"))
    assert message.startswith("Twilio transfer failed: HTTP 503, Twilio error 503")


def test_an_rfc_9457_error_is_the_same_clear_error() -> None:
    body = {"type": "https://twilio.com/e/1", "title": "Rate limited", "status": 429, "code": 20429}
    message = failure(429, body, lambda rest: rest.hang_up(CALL_SID))
    assert message == "Twilio hang-up failed: HTTP 429, Twilio error 20429: Rate limited"


def test_a_request_without_an_answer_in_time_is_a_clear_timeout() -> None:
    async def work(twilio: FakeTwilio, rest: TwilioRest) -> str:
        twilio.delay_s = 2.0
        with pytest.raises(TwilioRestError) as raised:
            await rest.hang_up(CALL_SID)
        return str(raised.value)

    assert with_twilio(work, timeout_s=0.2) == "Twilio hang-up failed: no answer within 0.2 s"


def test_an_unreachable_api_is_a_clear_error() -> None:
    async def run() -> str:
        rest = TwilioRest(ACCOUNT, TOKEN, "http://127.0.0.1:9", timeout_s=2.0)
        try:
            with pytest.raises(TwilioRestError) as raised:
                await rest.hang_up(CALL_SID)
        finally:
            await rest.aclose()
        return str(raised.value)

    message = asyncio.run(run())
    assert message.startswith("Twilio hang-up failed: cannot reach http://127.0.0.1:9:")


def test_a_success_whose_body_is_not_json_is_a_clear_error() -> None:
    async def work(twilio: FakeTwilio, rest: TwilioRest) -> str:
        twilio.raw_answer = "<html>a captive portal</html>"
        with pytest.raises(TwilioRestError) as raised:
            await rest.place_call("+15551230000", "+15559870000", "<Response/>")
        return str(raised.value)

    assert with_twilio(work) == "Twilio outbound call failed: the answer is not JSON"


def test_the_process_environment_does_not_redirect_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")

    async def work(twilio: FakeTwilio, rest: TwilioRest) -> int:
        await rest.hang_up(CALL_SID)
        return len(twilio.requests)

    assert with_twilio(work) == 1
