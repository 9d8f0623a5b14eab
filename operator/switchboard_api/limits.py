"""Per-call limits (`callPolicy.limits`): what one caller may send and what one record keeps.

The gateway enforces them the same way on every transport (docs/limits.md has the table):
the start's caller variables and client reference at admission, typed text size and the turn
rate (typed and spoken turns together) during the call, and the record's size when it is
stored. A call over a limit ends with `protocol_error` and a detail naming the limit; a caller
sending messages faster than `maxMessagesPerSecond` is slowed down instead.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from switchboard_api._base import ApiModel


class CallLimitsSpec(ApiModel):
    """Limits on one call's input and on its stored record."""

    max_text_chars: Annotated[
        int,
        Field(
            ge=1,
            le=32_768,
            description="Longest typed caller turn, in characters; a longer one ends the call.",
        ),
    ] = 2000
    turns_per_minute: Annotated[
        int,
        Field(
            ge=1,
            le=600,
            description="Caller turns (typed and spoken together) per minute, sustained; "
            "faster than this beyond turnBurst ends the call.",
        ),
    ] = 20
    turn_burst: Annotated[
        int,
        Field(
            ge=1,
            le=100,
            description="Caller turns allowed back to back before turnsPerMinute applies.",
        ),
    ] = 10
    max_messages_per_second: Annotated[
        int,
        Field(
            ge=50,
            le=10_000,
            description="Caller messages (audio frames, text, DTMF) read per second, after a "
            "burst of as many; a faster sender is read later (slowed down), not cut off.",
        ),
    ] = 200
    max_caller_variables: Annotated[
        int,
        Field(ge=0, le=64, description="Most variables a caller may send in its start."),
    ] = 32
    max_caller_variable_chars: Annotated[
        int,
        Field(ge=1, le=4096, description="Longest value of one caller variable, in characters."),
    ] = 1000
    max_client_reference_chars: Annotated[
        int,
        Field(ge=0, le=1024, description="Longest clientReference a caller may send."),
    ] = 256
    max_record_turns: Annotated[
        int,
        Field(
            ge=1,
            le=10_000,
            description="Turns a call's record keeps; later ones are left out and the record "
            "is marked truncated.",
        ),
    ] = 500
    max_record_bytes: Annotated[
        int,
        Field(
            ge=10_000,
            le=16_000_000,
            description="Bytes of text (UTF-8) a call's record keeps across its turns; the turn "
            "that would pass it and all after it are left out and the record is marked truncated.",
        ),
    ] = 1_000_000
