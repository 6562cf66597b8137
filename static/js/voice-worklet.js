// The voice widget's microphone capture (an AudioWorklet, loaded by voice-widget.js from this origin: the page's
// CSP allows scripts from 'self' only). Turns the microphone's samples, at the audio context's rate, into 16-bit
// PCM at the rate ElevenLabs asked for (16 kHz by default), averaging the samples of each output step, and posts
// 100 ms chunks (ArrayBuffers) to the page.
class LinkTimePcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    var rate = (options && options.processorOptions && options.processorOptions.rate) || 16000;
    this.step = sampleRate / rate;          // input samples per output sample (sampleRate: the context's)
    this.chunk = new Int16Array(Math.round(rate / 10));
    this.fill = 0;
    this.sum = 0;
    this.count = 0;
    this.position = 0;
    var self = this;
    this.port.onmessage = function (event) { if (event.data === "flush") { self.flush(); } };
  }

  flush() {
    if (this.fill > 0) {
      var out = this.chunk.slice(0, this.fill);
      this.port.postMessage(out.buffer, [out.buffer]);
      this.fill = 0;
    }
  }

  process(inputs) {
    var channel = inputs[0] && inputs[0][0];
    if (!channel) { return true; }
    for (var i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.position += 1;
      if (this.position >= this.step) {
        this.position -= this.step;
        var value = Math.max(-1, Math.min(1, this.sum / this.count));
        this.chunk[this.fill++] = value < 0 ? value * 0x8000 : value * 0x7fff;
        this.sum = 0;
        this.count = 0;
        if (this.fill === this.chunk.length) {
          var full = this.chunk;
          this.chunk = new Int16Array(full.length);
          this.fill = 0;
          this.port.postMessage(full.buffer, [full.buffer]);
        }
      }
    }
    return true;
  }
}

registerProcessor("linktime-pcm-capture", LinkTimePcmCapture);
