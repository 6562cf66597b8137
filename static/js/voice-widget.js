// The voice widget (templates/voice/_widget.html): "Talk to AI Assistant" on a host's public pages.
//
// A small client of ElevenLabs' documented conversation WebSocket (no SDK, no CDN: this file and
// voice-worklet.js are all the code, served from this origin). On a click:
//   1. ask for the microphone (denied: "Microphone access required" and the troubleshooting hint);
//   2. POST the widget's session URL (our server) for a short-lived signed URL and the host's dynamic variables;
//   3. open the signed wss:// URL and send conversation_initiation_client_data {dynamic_variables};
//   4. on conversation_initiation_metadata the call is connected: microphone audio goes out as
//      {"user_audio_chunk": base64 16-bit PCM} (voice-worklet.js resamples it), the agent's "audio" events
//      (base64 PCM at agent_output_audio_format's rate) are played in order, "interruption" drops what was
//      queued, "ping" is answered with "pong", the agent's and the visitor's words are shown;
//      client_tool_call is answered as an error (this widget offers no client tools);
//   5. "End Call" (or the server closing) ends it: socket closed, microphone released.
// States (data-state on the widget): idle, connecting, connected, ended, error.
(function () {
  "use strict";

  var CONNECT_TIMEOUT_MS = 20000;
  var MESSAGES = {
    failed: "Could not connect to the assistant. Please try again.",
    lost: "The connection to the assistant was lost.",
    noAudio: "This browser cannot record audio here.",
    noMic: "No microphone was found. Connect one and try again."
  };

  function pcmRate(format, fallback) {
    var match = /^pcm_(\d+)$/.exec(format || "");
    return match ? parseInt(match[1], 10) : fallback;
  }

  function toBase64(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return window.btoa(text);
  }

  function pcmToFloats(base64) {
    var text = window.atob(base64), count = text.length >> 1, out = new Float32Array(count);
    for (var i = 0; i < count; i++) {
      var value = text.charCodeAt(2 * i) | (text.charCodeAt(2 * i + 1) << 8);
      if (value >= 0x8000) { value -= 0x10000; }
      out[i] = value / 0x8000;
    }
    return out;
  }

  function Widget(root) {
    this.root = root;
    this.part = function (name) { return root.querySelector('[data-voice="' + name + '"]'); };
    this.start = this.part("start");
    this.end = this.part("end");
    this.status = this.part("status");
    this.errorBox = this.part("error");
    this.micDenied = this.part("mic-denied");
    this.transcript = this.part("transcript");
    this.call = null;
    var self = this;
    this.start.addEventListener("click", function () { self.begin(); });
    this.end.addEventListener("click", function () { self.finish("ended"); });
    window.addEventListener("pagehide", function () { self.finish("ended"); });
  }

  Widget.prototype.setState = function (state, message) {
    this.root.setAttribute("data-state", state);
    var busy = state === "connecting", live = state === "connected";
    this.start.hidden = live;
    this.start.disabled = busy;
    this.start.setAttribute("aria-busy", busy ? "true" : "false");
    this.end.hidden = !(live || busy);
    this.micDenied.hidden = true;
    this.errorBox.hidden = state !== "error" || !message;
    this.errorBox.textContent = state === "error" ? (message || "") : "";
    this.status.textContent = { idle: "", connecting: "Connecting…", connected: "Connected. Speak now.",
                                ended: "Call ended.", error: "" }[state] || "";
    if (live) { this.end.focus(); }
  };

  Widget.prototype.say = function (who, text) {
    if (!text) { return; }
    var item = document.createElement("li");
    item.className = "voice-line voice-" + who;
    var name = document.createElement("strong");
    name.textContent = who === "agent" ? "Assistant: " : "You: ";
    item.appendChild(name);
    item.appendChild(document.createTextNode(text.trim()));
    this.transcript.appendChild(item);
    this.transcript.hidden = false;
    while (this.transcript.children.length > 6) { this.transcript.removeChild(this.transcript.firstChild); }
  };

  Widget.prototype.begin = async function () {
    if (this.call) { return; }
    var call = { stopped: false, sources: [], playAt: 0, lastInterrupt: 0 };
    this.call = call;
    this.transcript.textContent = "";
    this.transcript.hidden = true;
    this.setState("connecting");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode
        || !window.WebSocket) {
      return this.fail(call, MESSAGES.noAudio);
    }
    try {
      call.stream = await navigator.mediaDevices.getUserMedia(
        { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 } });
    } catch (error) {
      var name = error && error.name;
      if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
        return this.fail(call, null, true);
      }
      return this.fail(call, name === "NotFoundError" || name === "OverconstrainedError"
        ? MESSAGES.noMic : MESSAGES.noAudio);
    }
    if (call.stopped) { return this.release(call); }
    try {
      call.context = new (window.AudioContext || window.webkitAudioContext)();
      await call.context.audioWorklet.addModule(this.root.getAttribute("data-worklet-url"));
      if (call.context.state === "suspended") { await call.context.resume(); }
    } catch (error) {
      return this.fail(call, MESSAGES.noAudio);
    }
    var session;
    try {
      var response = await fetch(this.root.getAttribute("data-session-url"), {
        method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } });
      var body = await response.json().catch(function () { return {}; });
      if (!response.ok) { return this.fail(call, body.error || MESSAGES.failed); }
      session = body;
    } catch (error) {
      return this.fail(call, MESSAGES.failed);
    }
    if (call.stopped) { return this.release(call); }
    if (!session.signedUrl || !/^wss:\/\//.test(session.signedUrl)) { return this.fail(call, MESSAGES.failed); }
    this.connect(call, session);
  };

  Widget.prototype.connect = function (call, session) {
    var self = this, socket;
    try {
      socket = new WebSocket(session.signedUrl);
    } catch (error) {
      return this.fail(call, MESSAGES.failed);
    }
    call.socket = socket;
    call.timer = window.setTimeout(function () { self.fail(call, MESSAGES.failed); }, CONNECT_TIMEOUT_MS);
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({ type: "conversation_initiation_client_data",
                                   dynamic_variables: session.dynamicVariables || {} }));
    });
    socket.addEventListener("message", function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      self.handle(call, message);
    });
    socket.addEventListener("close", function () {
      if (call.stopped) { return; }
      if (call.connected) { self.finish("ended", call); } else { self.fail(call, MESSAGES.failed); }
    });
    socket.addEventListener("error", function () {
      if (!call.stopped && !call.connected) { self.fail(call, MESSAGES.failed); }
    });
  };

  Widget.prototype.send = function (call, message) {
    if (call.socket && call.socket.readyState === WebSocket.OPEN) { call.socket.send(JSON.stringify(message)); }
  };

  Widget.prototype.handle = function (call, message) {
    if (call.stopped) { return; }
    switch (message.type) {
      case "conversation_initiation_metadata":
        this.connected(call, message.conversation_initiation_metadata_event || {});
        break;
      case "audio":
        this.play(call, message.audio_event || {});
        break;
      case "agent_response":
        this.say("agent", (message.agent_response_event || {}).agent_response);
        break;
      case "user_transcript":
        this.say("user", (message.user_transcription_event || {}).user_transcript);
        break;
      case "interruption":
        call.lastInterrupt = parseInt((message.interruption_event || {}).event_id, 10) || call.lastInterrupt;
        this.silence(call);
        break;
      case "ping":
        this.send(call, { type: "pong", event_id: (message.ping_event || {}).event_id });
        break;
      case "client_tool_call":
        this.send(call, { type: "client_tool_result", tool_call_id: (message.client_tool_call || {}).tool_call_id,
                          result: "This client offers no tools.", is_error: true });
        break;
      default:
        break;
    }
  };

  Widget.prototype.connected = function (call, metadata) {
    if (call.connected) { return; }
    window.clearTimeout(call.timer);
    call.connected = true;
    call.conversationId = metadata.conversation_id || "";
    call.outputRate = pcmRate(metadata.agent_output_audio_format, 16000);
    var inputRate = pcmRate(metadata.user_input_audio_format, 16000), self = this;
    try {
      call.source = call.context.createMediaStreamSource(call.stream);
      call.capture = new AudioWorkletNode(call.context, "linktime-pcm-capture",
                                          { processorOptions: { rate: inputRate } });
      call.capture.port.onmessage = function (event) {
        self.send(call, { user_audio_chunk: toBase64(event.data) });
      };
      call.source.connect(call.capture);
      call.capture.connect(call.context.destination);   // silent: the worklet writes no output
    } catch (error) {
      return this.fail(call, MESSAGES.noAudio);
    }
    this.root.setAttribute("data-conversation-id", call.conversationId);
    this.setState("connected");
  };

  Widget.prototype.play = function (call, event) {
    if (!event.audio_base_64 || !call.context || !call.outputRate) { return; }
    if (parseInt(event.event_id, 10) <= call.lastInterrupt) { return; }
    var samples = pcmToFloats(event.audio_base_64);
    if (!samples.length) { return; }
    var buffer = call.context.createBuffer(1, samples.length, call.outputRate);
    buffer.copyToChannel(samples, 0);
    var source = call.context.createBufferSource();
    source.buffer = buffer;
    source.connect(call.context.destination);
    var at = Math.max(call.playAt, call.context.currentTime);
    source.start(at);
    call.playAt = at + buffer.duration;
    call.sources.push(source);
    source.addEventListener("ended", function () {
      var index = call.sources.indexOf(source);
      if (index >= 0) { call.sources.splice(index, 1); }
    });
  };

  Widget.prototype.silence = function (call) {
    call.sources.forEach(function (source) { try { source.stop(); } catch (error) { /* not started */ } });
    call.sources = [];
    call.playAt = 0;
  };

  Widget.prototype.release = function (call) {
    call.stopped = true;
    window.clearTimeout(call.timer);
    this.silence(call);
    if (call.capture) { call.capture.port.onmessage = null; try { call.capture.disconnect(); } catch (e) { /**/ } }
    if (call.source) { try { call.source.disconnect(); } catch (e) { /**/ } }
    if (call.stream) { call.stream.getTracks().forEach(function (track) { track.stop(); }); }
    if (call.socket && call.socket.readyState <= WebSocket.OPEN) { call.socket.close(1000, "ended by user"); }
    if (call.context && call.context.state !== "closed") { call.context.close().catch(function () {}); }
    if (this.call === call) { this.call = null; }
  };

  Widget.prototype.finish = function (state, call) {
    call = call || this.call;
    if (!call || call.stopped) { return; }
    this.release(call);
    this.setState(state);
    this.start.focus();
  };

  Widget.prototype.fail = function (call, message, microphone) {
    if (call.stopped) { return; }
    this.release(call);
    this.setState("error", message);
    if (microphone) { this.micDenied.hidden = false; }
  };

  function init() {
    var root = document.getElementById("voice-widget");
    if (root && !root.voiceWidget) { root.voiceWidget = new Widget(root); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
