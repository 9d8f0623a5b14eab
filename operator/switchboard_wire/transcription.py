"""Partial transcription over HTTP: the model plane's extension for text while the caller speaks.

`POST PARTIAL_TRANSCRIPTION_PATH`, multipart: `file` (a WAV of the utterance from its start) and
the fields of `PartialRequest`. The answer is a `PartialText` as JSON. `state` is opaque to the
caller: it is the previous answer's, passed back with the grown buffer, so that any model replica
can serve the next pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PARTIAL_TRANSCRIPTION_PATH = "/v1/audio/transcriptions/partial"


@dataclass(frozen=True, slots=True)
class PartialRequest:
    """The form fields of one pass besides the audio."""

    #: The last pass over the utterance (it ended).
    final: bool = False
    #: The previous pass's `state`; None on the first pass.
    state: str | None = None
    #: The ASR deployment or model name; None: the only one deployed.
    model: str | None = None
    language: str | None = None

    def to_form(self) -> dict[str, str]:
        """The form fields (absent ones left out)."""
        form = {"final": "true" if self.final else "false"}
        for name in ("state", "model", "language"):
            value = getattr(self, name)
            if value:
                form[name] = value
        return form

    @classmethod
    def from_form(cls, form: Mapping[str, object]) -> PartialRequest:
        """The request from parsed form fields (anything but text counts as absent)."""

        def text(name: str) -> str | None:
            value = form.get(name)
            return value if isinstance(value, str) and value else None

        return cls(form.get("final") == "true", text("state"), text("model"), text("language"))


@dataclass(frozen=True, slots=True)
class PartialText:
    """The utterance so far, as one pass heard it.

    All its text, the stable prefix that later passes will not change, whether this was the final
    pass, and the state to pass back with the next one.
    """

    text: str
    stable: str
    final: bool
    state: str
    #: The text after the stable prefix, which a later pass may still change.
    unstable: str = ""

    def to_body(self) -> dict[str, object]:
        """The JSON body of the answer."""
        return {
            "text": self.text,
            "stable": self.stable,
            "unstable": self.unstable,
            "final": self.final,
            "state": self.state,
        }

    @classmethod
    def from_body(cls, body: object) -> PartialText:
        """The answer from its JSON body; raises `ValueError` naming a missing or wrong field."""
        if not isinstance(body, dict):
            raise ValueError("the partial transcription is not a JSON object")
        for name, kind in (("text", str), ("stable", str), ("final", bool), ("state", str)):
            if not isinstance(body.get(name), kind):
                raise ValueError(
                    f"the partial transcription's `{name}` is missing or not {kind.__name__}"
                )
        unstable = body.get("unstable")
        return cls(
            body["text"],
            body["stable"],
            body["final"],
            body["state"],
            unstable if isinstance(unstable, str) else "",
        )
