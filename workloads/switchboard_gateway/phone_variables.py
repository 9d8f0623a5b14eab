"""Prompt variables every template may use: the phone call's numbers, direction and id.

Telephony transports fill them from the provider's call (`StartCall.telephony`); on other calls
they are empty strings. They are the call's facts, never a caller's to set: a start or a call
token naming one is refused at admission, and the API refuses them in `prompt.variables` and
`prompt.callerVariables`.
"""

from __future__ import annotations

from switchboard_api.voiceagent import PHONE_VARIABLES as _NAMES
from switchboard_gateway.events import TelephonyCall

#: The variables the phone call sets (the API refuses them as an agent's or a caller's).
PHONE_VARIABLES = frozenset(_NAMES)


def phone_variables(call: TelephonyCall | None) -> dict[str, str]:
    """The phone call's variables; `caller_number` is the other party's number either way.

    The provider names numbers by who placed the call: on an inbound call the caller is `from`,
    on an outbound one (the agent dialled) the other party is `to`.
    """
    if call is None:
        return dict.fromkeys(PHONE_VARIABLES, "")
    outbound = call.direction == "outbound"
    return {
        "caller_number": call.to_number if outbound else call.from_number,
        "agent_number": call.from_number if outbound else call.to_number,
        "call_direction": call.direction,
        "call_sid": call.call_sid,
    }
