"""Refuse JSON nested beyond reason before parsing it.

`json.loads` recurses once per level in C: a hostile message 100,000 levels deep takes the stack
to Python's recursion limit. The decoder's RecursionError is caught, but a garbage collection
that runs at that depth finalises whatever is pending there (seen: gRPC's async generators,
whose finaliser then fails with its own RecursionError, logged as "Exception ignored"). So deep
messages are refused by counting, never by recursing.
"""

from __future__ import annotations

#: Deeper than any message of ours (a start's variables map is 2 levels).
MAX_JSON_DEPTH = 32


def too_deep(raw: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw` opens more than `limit` nested arrays/objects (brackets in strings ignored)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than it has openers: the common case, no scan
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
