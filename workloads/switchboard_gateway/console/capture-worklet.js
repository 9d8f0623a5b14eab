// Microphone → 16 kHz PCM16 frames of 20 ms, posted to the page as ArrayBuffers.
// Linear-interpolation resampling from the context's rate (usually 48 kHz).
const TARGET_RATE = 16000;
const FRAME = 320;

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE;
    this.position = 0;        // where the next output sample falls in `this.input`
    this.input = new Float32Array(0);
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
    this.muted = false;
    this.port.onmessage = (event) => { this.muted = Boolean(event.data.muted); };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const joined = new Float32Array(this.input.length + channel.length);
    joined.set(this.input);
    joined.set(channel, this.input.length);
    let position = this.position;
    while (position + 1 < joined.length) {
      const index = Math.floor(position);
      const fraction = position - index;
      const value = this.muted ? 0 : joined[index] * (1 - fraction) + joined[index + 1] * fraction;
      this.frame[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
      if (this.filled === FRAME) {
        this.port.postMessage(this.frame.buffer.slice(0));
        this.filled = 0;
      }
      position += this.step;
    }
    const keep = Math.floor(position);
    this.input = joined.slice(keep);
    this.position = position - keep;
    return true;
  }
}

registerProcessor("capture-processor", CaptureProcessor);
