"""A call's two-channel recording: caller left, agent right, aligned on the call's clock.

Pure (no asyncio): each method takes the call's time, monotonic seconds since it started.

- Caller audio (in the start's input format) is real-time audio the transport paces: a chunk
  that arrives at `t` holds the audio that ended at `t`, so it is placed to end there, or right
  after the previous chunk when that ends later (jitter never overlaps two chunks).
- Agent frames (the output format) are placed one after another from the later of the agent
  channel's end and the time the frame is sent: what the caller heard, at real time.
- A clear (barge-in) cuts the agent channel at the clear's time: audio sent ahead of playback
  and never played is dropped, so the file holds what was cut only as far as it was played.

The file's rate is 8 kHz when both sides are 8 kHz (phone audio: upsampling would double the
size and add nothing), else 16 kHz: the pipeline hears the caller at 16 kHz, so the recording
keeps what the agent heard, and speech needs no more.

Memory stays bounded: only the last `WINDOW_S` seconds (which a late caller chunk or a clear
may still change) and audio sent ahead are held; older audio is written to the WAV file (the
standard library's `wave`) as the call goes. A call is at most `callPolicy.maxCallDurationSeconds`
(≤ 4 h): 4 h of 16 kHz 16-bit stereo is 0.92 GB, within WAV's 4 GiB; audio past `max_seconds`
is not kept.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from switchboard_gateway.events import AudioFormat, Encoding
from switchboard_wire.audio import AudioFormatError, mulaw_decode, pcm16_to_float

#: Audio this recent may still change (a late caller chunk, a clear); older audio is written.
WINDOW_S = 5.0
#: Audio placed further ahead of the call's clock than this is dropped (a client sending faster
#: than real time): the buffer never holds more.
MAX_AHEAD_S = 10.0
#: Write in blocks of at least this much audio.
_WRITE_S = 1.0
#: The longest a recording gets: `callPolicy.maxCallDurationSeconds` is at most 4 h.
MAX_SECONDS = 4 * 3600.0

Int16 = npt.NDArray[np.int16]


def file_rate(caller: AudioFormat, agent: AudioFormat) -> int:
    """8 kHz when both sides are 8 kHz phone audio, else 16 kHz."""
    return 8_000 if caller.sample_rate == agent.sample_rate == 8_000 else 16_000


class _Channel:
    """One side: its format, resampler (when its rate is not the file's) and end position."""

    def __init__(self, fmt: AudioFormat, rate: int) -> None:
        self.fmt, self.rate = fmt, rate
        self.end = 0  # the sample after the last one placed
        self._stream: Any = None
        self._fed = 0  # input samples given to the resampler
        self._made = 0  # output samples it gave back
        self.reset()

    def reset(self) -> None:
        """Forget what the resampler holds (after a cut)."""
        if self.fmt.sample_rate != self.rate:
            self._stream = soxr.ResampleStream(self.fmt.sample_rate, self.rate, 1, "float32")
        self._fed = self._made = 0

    def decode(self, data: bytes, last: bool = False) -> tuple[Int16, int]:
        """Samples at the file's rate, and how many more the resampler still holds."""
        if self.fmt.encoding is Encoding.MULAW:
            samples = mulaw_decode(data)
        else:
            samples = pcm16_to_float(data[: len(data) - len(data) % 2])
        if self._stream is not None:
            self._fed += samples.size
            samples = self._stream.resample_chunk(samples, last=last)
            self._made += samples.size
        held = max(0, round(self._fed * self.rate / self.fmt.sample_rate) - self._made)
        pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
        return pcm, held


class StereoRecorder:
    """Writes one call's recording to `path` (a WAV file) as the call goes; `finish` ends it."""

    def __init__(
        self,
        path: Path,
        caller: AudioFormat,
        agent: AudioFormat,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.rate = file_rate(caller, agent)
        self._caller, self._agent = _Channel(caller, self.rate), _Channel(agent, self.rate)
        self._max = round(min(max_seconds, MAX_SECONDS) * self.rate)
        self._base = 0  # the first sample not yet written to the file
        self._buffer = np.zeros((0, 2), np.int16)  # samples from `_base` on
        self._filled = 0  # the sample after the last one placed on either channel
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 (closed by finish/close)
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.rate)
        self._open = True

    @property
    def frames(self) -> int:
        """Samples per channel placed so far (the length the file will have)."""
        return max(self._filled, self._base)

    def caller_audio(self, data: bytes, at: float) -> None:
        """Caller audio (input format) that arrived at `at`; malformed audio is left out."""
        try:
            samples, held = self._caller.decode(data)
        except AudioFormatError:
            return
        ends = round(at * self.rate) - held
        self._place(0, self._caller, max(self._caller.end, ends - samples.size), samples, at)
        self._flush(at)

    def agent_audio(self, data: bytes, at: float) -> None:
        """An agent frame (output format) sent at `at`."""
        try:
            samples, _ = self._agent.decode(data)
        except AudioFormatError:
            return
        start = max(self._agent.end, round(at * self.rate))
        self._place(1, self._agent, start, samples, at)
        self._flush(at)

    def clear(self, at: float) -> None:
        """Barge-in at `at`: agent audio placed after it was never played; drop it."""
        cut = max(round(at * self.rate), self._base)
        if self._agent.end > cut:
            self._buffer[cut - self._base : self._agent.end - self._base, 1] = 0
            self._agent.end = cut
        self._agent.reset()

    def finish(self) -> int:
        """Write what is left and close the file; returns its length in samples per channel."""
        for index, channel in enumerate((self._caller, self._agent)):
            if channel._stream is not None:  # the resampler's tail
                tail, _ = channel.decode(b"", last=True)
                self._place(index, channel, channel.end, tail, channel.end / self.rate)
        self._write(self.frames)
        self.close()
        return self._base

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._open:
            self._open = False
            self._wav.close()

    def _place(self, index: int, channel: _Channel, start: int, samples: Int16, at: float) -> None:
        ahead = round((at + MAX_AHEAD_S) * self.rate)
        if start < self._base:  # older than the window: only a far too late chunk
            samples, start = samples[self._base - start :], self._base
        end = min(start + samples.size, self._max, ahead)
        if end <= start:
            return
        needed = end - self._base
        if needed > len(self._buffer):
            grown = np.zeros((max(needed, 2 * len(self._buffer)), 2), np.int16)
            grown[: len(self._buffer)] = self._buffer
            self._buffer = grown
        self._buffer[start - self._base : end - self._base, index] = samples[: end - start]
        channel.end = end
        self._filled = max(self._filled, end)

    def _flush(self, at: float) -> None:
        horizon = min(round((at - WINDOW_S) * self.rate), self._max)
        if horizon - self._base >= _WRITE_S * self.rate:
            self._write(horizon)

    def _write(self, upto: int) -> None:
        """Write samples `_base`..`upto` (silence where nothing was placed) to the file."""
        block = round(_WRITE_S * self.rate)
        while self._base < upto:
            count = min(upto - self._base, max(block, len(self._buffer)))
            held = min(count, len(self._buffer))
            chunk = np.zeros((count, 2), np.int16)
            chunk[:held] = self._buffer[:held]
            self._wav.writeframes(chunk.astype("<i2").tobytes())
            self._buffer = self._buffer[held:].copy()
            self._base += count
