"""Prompt templates: `{{name}}` placeholders filled from the agent's variables and the call."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(ValueError):
    """A template names variables that nobody provides."""


def placeholders(template: str) -> set[str]:
    """Every variable a template uses."""
    return set(_PLACEHOLDER.findall(template))


def render(template: str, variables: Mapping[str, str]) -> str:
    """Fill every placeholder; unknown names are an error, never left as `{{x}}` for TTS."""
    missing = placeholders(template) - set(variables)
    if missing:
        raise TemplateError(f"no value for {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: variables[m.group(1)], template)
