"""Audio at the gateway's edges: caller formats in, 16 kHz float32 inside, the output format out.

The conversions themselves are the wire's (`switchboard_wire.audio`); this module applies them
to the formats a call declared, and makes bad caller audio a protocol error.
"""

from __future__ import annotations

from switchboard_gateway.events import AudioFormat, Encoding, ProtocolError
from switchboard_wire.audio import (
    Float32,
    float_to_pcm16,
    mulaw_decode,
    mulaw_encode,
    pcm16_to_float,
    resample,
)

PIPELINE_RATE = 16_000


def decode(data: bytes, fmt: AudioFormat) -> Float32:
    """Caller bytes as float32 at the pipeline's 16 kHz."""
    if fmt.encoding is Encoding.MULAW:
        samples = mulaw_decode(data)
    else:
        if len(data) % 2:
            raise ProtocolError(f"PCM16 audio frame has an odd length ({len(data)} bytes)")
        samples = pcm16_to_float(data)
    return resample(samples, fmt.sample_rate, PIPELINE_RATE)


def encode_pcm16(pcm16: bytes, rate: int, fmt: AudioFormat) -> bytes:
    """PCM16 at `rate` (from TTS) in the output format."""
    if rate == fmt.sample_rate and fmt.encoding is Encoding.PCM16:
        return pcm16
    samples = resample(pcm16_to_float(pcm16), rate, fmt.sample_rate)
    if fmt.encoding is Encoding.MULAW:
        return mulaw_encode(samples)
    return float_to_pcm16(samples)


def bytes_per_second(fmt: AudioFormat) -> int:
    """Size of one second of audio in the format."""
    return fmt.sample_rate * (1 if fmt.encoding is Encoding.MULAW else 2)
