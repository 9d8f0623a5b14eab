"""How callers reach a VoiceAgent: gRPC, WebSocket, and phone calls through Twilio or jambonz.

Twilio calls the agent's voice webhook (checked against `X-Twilio-Signature` with the account's
auth token) and streams the call over Media Streams; jambonz opens its WebSocket application
API (`ws.jambonz.org`) to the gateway with HTTP basic auth. Both need credentials, so an enabled
telephony channel without them is refused at admission.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from switchboard_api._base import ApiModel, cel, check, validations
from switchboard_api.common import SecretKeyRef

#: E.164: a plus, a non-zero digit, then 6 to 14 digits.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class ChannelToggle(ApiModel):
    """A channel that needs no configuration beyond being on or off."""

    enabled: bool = True


class TwilioChannel(ApiModel):
    """Twilio Media Streams: the auth token checks webhook signatures and signs REST calls."""

    enabled: bool = False
    auth_token_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(
            description="The Twilio account's auth token: webhooks are checked against "
            "X-Twilio-Signature with it, and transfers, hang-ups and outbound calls use it."
        ),
    ] = None
    account_sid: Annotated[
        str | None,
        Field(
            max_length=34,
            pattern=r"^AC[0-9a-fA-F]{32}$",
            description="The Twilio account (AC...) whose REST API transfers, hangs up and "
            "places calls. Without it those actions are refused and say so.",
        ),
    ] = None
    phone_number: Annotated[
        str | None,
        Field(
            max_length=16,
            pattern=E164_PATTERN,
            description="The caller ID of outbound calls when `switchboard dial` gives none.",
        ),
    ] = None
    public_url: Annotated[
        str | None,
        Field(
            max_length=256,
            pattern=r"^https://[^\s/?#]+(/[^\s?#]*)?$",
            description="The gateway's public https:// base URL as Twilio reaches it (a "
            "tunnel or a load balancer). Default: https://<exposure.hostname>.",
        ),
    ] = None


class JambonzChannel(ApiModel):
    """jambonz WebSocket application API (`ws.jambonz.org`), audio through `listen`."""

    enabled: bool = False
    basic_auth_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(
            description="`username:password` that the jambonz application's WebSocket "
            "authentication sends (HTTP basic auth); other connections are refused."
        ),
    ] = None
    sample_rate: Annotated[
        int,
        Field(description="L16 rate of the listen stream, both directions: 8000 or 16000."),
    ] = 8000


_TWILIO_NEEDS_TOKEN = cel(
    "!self.twilio.enabled || has(self.twilio.authTokenSecretRef)",
    message=(
        "channels.twilio.authTokenSecretRef is required when channels.twilio is enabled: "
        "webhooks are checked against X-Twilio-Signature with the account's auth token"
    ),
    field_path=".twilio.authTokenSecretRef",
    reason="FieldValueRequired",
)
_JAMBONZ_NEEDS_AUTH = cel(
    "!self.jambonz.enabled || has(self.jambonz.basicAuthSecretRef)",
    message=(
        "channels.jambonz.basicAuthSecretRef is required when channels.jambonz is enabled: "
        "the application's WebSocket is authenticated with HTTP basic auth"
    ),
    field_path=".jambonz.basicAuthSecretRef",
    reason="FieldValueRequired",
)
_JAMBONZ_RATE = cel(
    "self.jambonz.sampleRate == 8000 || self.jambonz.sampleRate == 16000",
    message="channels.jambonz.sampleRate must be 8000 or 16000",
    field_path=".jambonz.sampleRate",
)
_SOME_CHANNEL = cel(
    "self.grpc.enabled || self.websocket.enabled || self.twilio.enabled || self.jambonz.enabled",
    message="enable at least one channel",
)


class ChannelsSpec(
    ApiModel,
    json_schema_extra=validations(
        _TWILIO_NEEDS_TOKEN, _JAMBONZ_NEEDS_AUTH, _JAMBONZ_RATE, _SOME_CHANNEL
    ),
):
    """How callers reach the agent."""

    grpc: ChannelToggle = ChannelToggle()
    websocket: ChannelToggle = ChannelToggle()
    twilio: TwilioChannel = TwilioChannel()
    jambonz: JambonzChannel = JambonzChannel()

    @model_validator(mode="after")
    def _rules(self) -> ChannelsSpec:
        twilio, jambonz = self.twilio, self.jambonz
        check(_TWILIO_NEEDS_TOKEN, not twilio.enabled or twilio.auth_token_secret_ref is not None)
        check(_JAMBONZ_NEEDS_AUTH, not jambonz.enabled or jambonz.basic_auth_secret_ref is not None)
        check(_JAMBONZ_RATE, jambonz.sample_rate in (8000, 16000))
        channels = (self.grpc, self.websocket, self.twilio, self.jambonz)
        check(_SOME_CHANNEL, any(c.enabled for c in channels))
        return self

    @property
    def telephony(self) -> bool:
        """Whether a phone channel (Twilio or jambonz) is on."""
        return self.twilio.enabled or self.jambonz.enabled
