"""How callers reach a VoiceAgent: gRPC and WebSocket today; telephony refused until it exists.

The Twilio and jambonz shapes are kept so the API's future form is visible, but the API server
refuses them (enabled, or configured) with a message saying they are not available yet: a field
the API accepts does something. The telephony work replaces these refusals with its own rules
(an enabled Twilio channel needs `authTokenSecretRef` to check `X-Twilio-Signature`).
"""

from __future__ import annotations

from pydantic import model_validator

from switchboard_api._base import ApiModel, cel, check, validations
from switchboard_api.common import SecretKeyRef

_TELEPHONY_LATER = "telephony channels arrive with the Twilio/jambonz work"


class ChannelToggle(ApiModel):
    """A channel that needs no configuration beyond being on or off."""

    enabled: bool = True


class TwilioChannel(ApiModel):
    """Twilio Media Streams: the account's auth token validates webhook signatures."""

    enabled: bool = False
    auth_token_secret_ref: SecretKeyRef | None = None


class JambonzChannel(ApiModel):
    """jambonz `listen` WebSocket."""

    enabled: bool = False


_TWILIO_NOT_YET = cel(
    "!self.twilio.enabled",
    message=(
        f"channels.twilio is not available yet: {_TELEPHONY_LATER}; remove it or set enabled: false"
    ),
    field_path=".twilio",
    reason="FieldValueForbidden",
)
_TWILIO_TOKEN_NOT_YET = cel(
    "!has(self.twilio.authTokenSecretRef)",
    message=(
        f"channels.twilio.authTokenSecretRef is not available yet: {_TELEPHONY_LATER}; remove it"
    ),
    field_path=".twilio.authTokenSecretRef",
    reason="FieldValueForbidden",
)
_JAMBONZ_NOT_YET = cel(
    "!self.jambonz.enabled",
    message=(
        f"channels.jambonz is not available yet: {_TELEPHONY_LATER}; "
        "remove it or set enabled: false"
    ),
    field_path=".jambonz",
    reason="FieldValueForbidden",
)
_SOME_CHANNEL = cel(
    "self.grpc.enabled || self.websocket.enabled || self.twilio.enabled || self.jambonz.enabled",
    message="enable at least one channel",
)


class ChannelsSpec(
    ApiModel,
    json_schema_extra=validations(
        _TWILIO_NOT_YET, _TWILIO_TOKEN_NOT_YET, _JAMBONZ_NOT_YET, _SOME_CHANNEL
    ),
):
    """How callers reach the agent."""

    grpc: ChannelToggle = ChannelToggle()
    websocket: ChannelToggle = ChannelToggle()
    twilio: TwilioChannel = TwilioChannel()
    jambonz: JambonzChannel = JambonzChannel()

    @model_validator(mode="after")
    def _rules(self) -> ChannelsSpec:
        check(_TWILIO_NOT_YET, not self.twilio.enabled)
        check(_TWILIO_TOKEN_NOT_YET, self.twilio.auth_token_secret_ref is None)
        check(_JAMBONZ_NOT_YET, not self.jambonz.enabled)
        channels = (self.grpc, self.websocket, self.twilio, self.jambonz)
        check(_SOME_CHANNEL, any(c.enabled for c in channels))
        return self
