"""What crosses process boundaries between Switchboard's deployables, written once.

The model plane (`switchboard_serve`), the call gateway (`switchboard_gateway`) and the CLI speak
to each other and to providers over HTTP and gRPC; the shapes and rules of that traffic live
here, so each side cannot drift from the other (docs/adr/0005-wire-package.md):

- `audio`: PCM16 ↔ float32, G.711 μ-law, resampling, WAV.
- `chat`: OpenAI chat messages and the stream-event vocabulary of a chat reply.
- `sse`: the one decoder of OpenAI chat-completion server-sent events.
- `completions`: the model plane's encoder of the same events, streamed or whole.
- `retry`: which failures are retried, how often, how patiently.
- `transcription`: the partial-transcription request and response bodies.
- `latency`: the latency stages of a turn (metrics, events, spans and call records).

Standard library, numpy and soxr only: no pydantic, no HTTP or RPC client, no other Switchboard
package (enforced by import-linter).
"""
