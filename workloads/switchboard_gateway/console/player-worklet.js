// Agent audio (16 kHz PCM16 frames) → the speakers at the context's rate, with `clear`.
// Reports how many agent samples have played so the page can show playback.
const SOURCE_RATE = 16000;

class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = SOURCE_RATE / sampleRate;
    this.chunks = [];
    this.offset = 0;          // fractional read position in chunks[0]
    this.port.onmessage = (event) => {
      if (event.data === "clear") {
        this.chunks = [];
        this.offset = 0;
      } else {
        const pcm = new Int16Array(event.data);
        const samples = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
        this.chunks.push(samples);
      }
    };
  }

  sampleAt(index) {
    let remaining = index;
    for (const chunk of this.chunks) {
      if (remaining < chunk.length) return chunk[remaining];
      remaining -= chunk.length;
    }
    return 0;
  }

  process(_inputs, outputs) {
    const output = outputs[0][0];
    for (let i = 0; i < output.length; i++) {
      if (this.chunks.length === 0) { output[i] = 0; continue; }
      const index = Math.floor(this.offset);
      const fraction = this.offset - index;
      output[i] = this.sampleAt(index) * (1 - fraction) + this.sampleAt(index + 1) * fraction;
      this.offset += this.step;
      while (this.chunks.length && this.offset >= this.chunks[0].length) {
        this.offset -= this.chunks[0].length;
        this.chunks.shift();
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(output);
    return true;
  }
}

registerProcessor("player-processor", PlayerProcessor);
