"""`GET /api/calls/<id>/recording`: a call's WAV for the console's player, by byte ranges.

Browsers' media elements ask with `Range: bytes=N-`; each answer is a 206 of at most
`MAX_RANGE_BYTES` (the player asks again for what follows), so an hours-long recording is never
held whole in memory. A request without `Range` gets the whole file when it is at most
`MAX_WHOLE_BYTES`, else 416 asking for ranges. Reads run in a worker thread (file or S3).
"""

from __future__ import annotations

import asyncio
import json
import re

from websockets.datastructures import Headers
from websockets.http11 import Response

from switchboard_gateway.records.recordings import RecordingNotFoundError, RecordingStore, Span

MAX_RANGE_BYTES = 4 * 1024 * 1024
MAX_WHOLE_BYTES = 32 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d{0,15})-(\d{0,15})$")
_REASONS = {200: "OK", 206: "Partial Content", 404: "Not Found", 416: "Range Not Satisfiable"}


def _answer(status: int, body: bytes, content_type: str, **extra: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]
    )
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return Response(status, _REASONS[status], headers, body)


def _error(status: int, message: str, **extra: str) -> Response:
    return _answer(status, json.dumps({"error": message}).encode(), "application/json", **extra)


def wanted_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """The (first, last) bytes a `Range` header asks for, clipped to `MAX_RANGE_BYTES`.

    None: no (usable) header, the whole file is wanted; "unsatisfiable": it starts past the end.
    A header this server does not parse (several ranges, other units) is ignored, as HTTP allows.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match[1] == match[2] == "":
        return None
    if size == 0:
        return "unsatisfiable"
    if match[1] == "":  # the last N bytes
        first, last = max(0, size - int(match[2])), size - 1
    else:
        first = int(match[1])
        if first >= size:
            return "unsatisfiable"
        last = int(match[2]) if match[2] else size - 1
        if last < first:
            return None
    return first, min(last, size - 1, first + MAX_RANGE_BYTES - 1)


async def recording_response(
    recordings: RecordingStore, reference: str, range_header: str | None
) -> Response:
    """The recording's bytes: 206 for a range, 200 whole, 404 when it is gone."""
    try:
        size = await asyncio.to_thread(recordings.size, reference)
        span = wanted_range(range_header, size)
        if isinstance(span, str):
            detail = "the range starts past the recording"
            return _error(416, detail, Content_Range=f"bytes */{size}")
        if span is None:
            if size > MAX_WHOLE_BYTES:
                detail = f"the recording is {size} bytes: ask for it in ranges (Range: bytes=0-)"
                return _error(416, detail, Content_Range=f"bytes */{size}")
            whole: Span = await asyncio.to_thread(recordings.read, reference, 0, size - 1)
            return _answer(200, whole.data, "audio/wav")
        part = await asyncio.to_thread(recordings.read, reference, span[0], span[1])
    except RecordingNotFoundError:
        return _error(404, "no recording of this call (it may have passed its retention)")
    content_range = f"bytes {part.start}-{part.end}/{part.size}"
    return _answer(206, part.data, "audio/wav", Content_Range=content_range)
