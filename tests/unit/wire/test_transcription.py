"""The partial-transcription bodies: what the gateway sends and the model plane answers."""

from __future__ import annotations

import pytest

from switchboard_wire.transcription import PartialRequest, PartialText

pytestmark = pytest.mark.unit


def test_the_request_form_leaves_absent_fields_out_and_parses_back() -> None:
    first = PartialRequest(model="asr-whisper")
    assert first.to_form() == {"final": "false", "model": "asr-whisper"}
    last = PartialRequest(final=True, state='{"stable": []}', language="en")
    assert PartialRequest.from_form(last.to_form()) == last
    assert PartialRequest.from_form({"final": "yes", "state": b"x"}) == PartialRequest()


def test_the_answer_round_trips_through_its_json_body() -> None:
    text = PartialText("open on Saturday", "open on", False, "{}", "Saturday")
    assert PartialText.from_body(text.to_body()) == text
    body = text.to_body()
    del body["unstable"]
    assert PartialText.from_body(body).unstable == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [([], "object"), ({"stable": "", "final": False, "state": ""}, "`text`"),
     ({"text": "", "stable": "", "final": "no", "state": ""}, "`final`")],
)  # fmt: skip
def test_a_malformed_answer_names_the_field(body: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PartialText.from_body(body)
