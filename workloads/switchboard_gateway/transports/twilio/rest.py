"""Twilio's REST API for live calls: transfer, hang up, place an outbound call.

Through the official `twilio` package's async client (`AsyncTwilioHttpClient`, aiohttp, the
`*_async` methods). The package has no setting for another base URL than its built-in
`https://api.twilio.com` besides edge/region names; its API domain keeps the base as a public
attribute (`client.api.base_url`), which is set here to `telephony.twilioApiUrl` (an edge
location such as `https://api.dublin.ie1.twilio.com`, or a local server in tests).

Every request runs under a timeout and is never retried (a retried `calls.create` could ring a
phone twice). Whatever goes wrong comes out as one `TwilioRestError` whose message names the
operation, the HTTP status and Twilio's error code, never the auth token or the TwiML.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallList
from twilio.twiml.voice_response import VoiceResponse

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_API_URL = "https://api.twilio.com"
#: Seconds one REST request may take, connection included.
DEFAULT_TIMEOUT_S = 10.0
_SIP_SCHEMES = ("sip:", "sips:")
#: Twilio's own error text is kept to this many characters in our messages.
_MAX_DETAIL = 200
# The client reads TWILIO_EDGE/TWILIO_REGION from its environment and rewrites host names with
# them; an empty (but truthy) mapping keeps the process environment out of it.
_NO_ENVIRONMENT = {"TWILIO_EDGE": "", "TWILIO_REGION": ""}


class TwilioRestError(Exception):
    """A Twilio REST request failed; `status` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        """An error with Twilio's HTTP status and error code when it answered."""
        super().__init__(message)
        self.status = status
        self.code = code


def dial_twiml(target: str) -> str:
    """`<Response><Dial>target</Dial></Response>`; sip:/sips: targets as `<Dial><Sip>`."""
    response = VoiceResponse()
    if target.lower().startswith(_SIP_SCHEMES):
        response.dial().sip(target)
    else:
        response.dial(target)
    return str(response)


class TwilioRest:
    """One Twilio account's REST client for live calls (create it inside a running loop)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """A client for `account_sid`; nothing is connected until the first request."""
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_url = api_url.rstrip("/")
        self._timeout_s = timeout_s
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def _calls(self) -> CallList:
        if self._client is None:
            # Built on first use, inside the event loop (aiohttp sessions belong to one loop).
            self._http = AsyncTwilioHttpClient(timeout=self._timeout_s)
            client = Client(
                self._account_sid,
                self._auth_token,
                http_client=self._http,
                environment=_NO_ENVIRONMENT,
            )
            client.api.base_url = self._api_url
            self._client = client
        return self._client.api.v2010.accounts(self._account_sid).calls

    async def transfer(self, call_sid: str, target: str) -> None:
        """Redirect the live call `call_sid` to `target` (E.164 or sip:/sips: URI)."""
        twiml = dial_twiml(target)
        await self._run("transfer", self._calls()(call_sid).update_async(twiml=twiml), twiml)

    async def hang_up(self, call_sid: str) -> None:
        """End the call `call_sid` (`Status=completed`)."""
        await self._run("hang-up", self._calls()(call_sid).update_async(status="completed"))

    async def place_call(self, to: str, from_: str, twiml: str) -> str:
        """Call `to` from `from_` and run `twiml` when answered; returns the new CallSid."""
        call = await self._run(
            "outbound call", self._calls().create_async(to=to, from_=from_, twiml=twiml), twiml
        )
        sid = getattr(call, "sid", None)
        if not isinstance(sid, str) or not sid:
            raise TwilioRestError("Twilio outbound call failed: the answer carries no call SID")
        return sid

    async def aclose(self) -> None:
        """Close the HTTP session (the client can be used again: a new one is opened)."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def _run(self, operation: str, request: Awaitable[_T], twiml: str = "") -> _T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await request
        except TimeoutError:
            raise TwilioRestError(
                f"Twilio {operation} failed: no answer within {self._timeout_s:g} s"
            ) from None
        except TwilioRestException as error:
            status = int(error.status)
            code = _int_or_none(error.code)
            detail = self._redact(str(error.msg), twiml)
            raise TwilioRestError(
                f"Twilio {operation} failed: HTTP {status}, Twilio error {code}: {detail}",
                status=status,
                code=code,
            ) from None
        except TwilioException as error:  # RFC 9457 errors (TwilioServiceException) and others
            service_status = _int_or_none(getattr(error, "status", None))
            service_code = _int_or_none(getattr(error, "code", None))
            title = self._redact(str(getattr(error, "title", "") or type(error).__name__), twiml)
            raise TwilioRestError(
                f"Twilio {operation} failed: HTTP {service_status}, Twilio error {service_code}: "
                f"{title}",
                status=service_status,
                code=service_code,
            ) from None
        except aiohttp.ClientError as error:
            raise TwilioRestError(
                f"Twilio {operation} failed: cannot reach {self._api_url}: {type(error).__name__}"
            ) from None
        except ValueError:  # a success status whose body is not JSON
            raise TwilioRestError(f"Twilio {operation} failed: the answer is not JSON") from None

    def _redact(self, text: str, twiml: str) -> str:
        for secret in (self._auth_token, twiml):
            if secret:
                text = text.replace(secret, "[redacted]")
        text = " ".join(text.split())
        return text[:_MAX_DETAIL] + ("…" if len(text) > _MAX_DETAIL else "")


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None
