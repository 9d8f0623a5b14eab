// The Switchboard console: talk to an agent over the WebSocket call API, and review past calls.
// No build step: plain ES modules and two AudioWorklets.

const RATE = 16000;
// The latency stages (switchboard_wire.latency.LatencyStage, by JSON key) in the order they run;
// voice-to-voice is the outline around them. A drift test checks every stage is here. Optional
// stages (only some agents run them) get a row only in turns where they ran.
const STAGES = [
  ["endpointingMs", "Endpointing", "#8da9c4"],
  ["asrFinalMs", "ASR final", "#6c8ebf"],
  ["retrievalMs", "Knowledge search", "#9673a6", "optional"],
  ["llmTtftMs", "LLM first token", "#d79b00"],
  ["ttsTtfbMs", "TTS first audio", "#82b366"],
];

const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function setStatus(text) {
  $("#status").textContent = text;
}

// --- talk page ---------------------------------------------------------------------------

class Call {
  constructor(agent, apiKey) {
    this.agent = agent;
    this.apiKey = apiKey;
    this.agentItems = new Map(); // turn → <li> of the agent's text
    this.ended = false;
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule("/console/capture-worklet.js");
    await this.context.audioWorklet.addModule("/console/player-worklet.js");
    this.capture = new AudioWorkletNode(this.context, "capture-processor");
    this.player = new AudioWorkletNode(this.context, "player-processor", {
      numberOfInputs: 0, outputChannelCount: [1],
    });
    this.player.connect(this.context.destination);
    this.context.createMediaStreamSource(this.stream).connect(this.capture);

    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.socket = new WebSocket(`${scheme}://${location.host}/v1/calls`);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => {
      this.socket.send(JSON.stringify({
        type: "start",
        agent: this.agent,
        apiKey: this.apiKey,
        inputFormat: { sampleRate: RATE, encoding: "pcm16" },
        outputFormat: { sampleRate: RATE, encoding: "pcm16" },
        clientReference: "console",
      }));
    };
    this.socket.onmessage = (message) => this.onMessage(message.data);
    this.socket.onclose = (event) => this.onClose(event);
    this.capture.port.onmessage = (event) => {
      if (this.started && this.socket.readyState === WebSocket.OPEN) this.socket.send(event.data);
    };
  }

  onMessage(data) {
    if (data instanceof ArrayBuffer) {
      this.player.port.postMessage(data, [data]);
      return;
    }
    const event = JSON.parse(data);
    switch (event.type) {
      case "started":
        this.started = true;
        setStatus(`In a call with ${event.agent} (call ${event.callId}). Speak when ready.`);
        enableInCall(true);
        break;
      case "transcript":
        if (event.final) {
          $("#partial").textContent = "";
          addLine("caller", `You: ${event.text}`, { "data-turn": String(event.turn) });
        } else {
          $("#partial").textContent = `You (hearing): ${event.text}`;
        }
        break;
      case "agentText": {
        let item = this.agentItems.get(event.turn);
        if (!item) {
          item = addLine("agent", "Agent:", { "data-turn": String(event.turn) });
          this.agentItems.set(event.turn, item);
        }
        item.textContent += ` ${event.text}`;
        break;
      }
      case "toolCall":
        addLine("tool", `Tool call ${event.name}(${event.arguments})`);
        break;
      case "toolResult":
        addLine("tool", `Tool ${event.ok ? "succeeded" : `failed: ${event.error}`} in ${event.latencyMs} ms`);
        break;
      case "latency":
        drawTurn(event);
        break;
      case "clear":
        this.player.port.postMessage("clear");
        break;
      case "transfer":
        addLine("tool", `Transfer to ${event.target}: ${event.reason}`);
        break;
      case "ended":
        this.ended = true;
        addLine("ended", `Call ended: ${event.reason}${event.detail ? ` (${event.detail})` : ""}`);
        break;
    }
  }

  onClose(event) {
    if (!this.ended) addLine("ended", `Connection closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`);
    setStatus("Not in a call.");
    this.release();
    finished(this);
  }

  mute(muted) {
    this.capture.port.postMessage({ muted });
  }

  sendText(text) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "text", text }));
  }

  hangUp() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "hangup", reason: "console" }));
    }
  }

  release() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    if (this.context && this.context.state !== "closed") this.context.close();
  }
}

let current = null;

function addLine(kind, text, attributes = {}) {
  const item = element("li", { class: kind, ...attributes }, text);
  $("#conversation").append(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

function enableInCall(inCall) {
  $("#talk").textContent = inCall ? "Hang up" : "Start talking";
  $("#talk").setAttribute("aria-pressed", String(inCall));
  $("#agent").disabled = inCall;
  for (const id of ["#mute", "#text", "#send-text"]) $(id).disabled = !inCall;
  $("#mute").setAttribute("aria-pressed", "false");
  $("#mute").textContent = "Mute";
}

function finished(call) {
  if (current === call) current = null;
  enableInCall(false);
}

function drawTurn(latency) {
  const width = 420, rowHeight = 16, labelWidth = 120;
  const total = Math.max(latency.voiceToVoiceMs, 1);
  const scale = (width - labelWidth - 60) / total;
  const rows = STAGES.filter(([key, , , optional]) => !optional || latency[key] > 0);
  const height = rowHeight * (rows.length + 1) + 24;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const summary = rows.map(([key, label]) => `${label} ${latency[key]} ms`).join(", ");
  svg.setAttribute("class", "waterfall");
  svg.setAttribute("role", "img");
  svg.setAttribute("data-turn", String(latency.turn));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("aria-label", `Turn ${latency.turn}: ${summary}, voice-to-voice ${latency.voiceToVoiceMs} ms${latency.interrupted ? ", interrupted" : ""}`);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(svgNs, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  add("text", { x: 0, y: 12, "font-weight": "bold" }, `Turn ${latency.turn}${latency.interrupted ? " (interrupted)" : ""}`);
  let start = 0;
  rows.forEach(([key, label, colour], row) => {
    const y = 18 + row * rowHeight;
    const ms = latency[key] || 0;
    add("text", { x: 0, y: y + 11 }, label);
    add("rect", { x: labelWidth + start * scale, y, width: Math.max(ms * scale, 1), height: rowHeight - 4, fill: colour, "data-stage": key });
    add("text", { x: labelWidth + (start + ms) * scale + 4, y: y + 11 }, `${ms} ms`);
    start += ms;
  });
  const y = 18 + rows.length * rowHeight;
  add("text", { x: 0, y: y + 11 }, "Voice-to-voice");
  add("rect", { x: labelWidth, y, width: total * scale, height: rowHeight - 4, fill: "none", stroke: "#333", "data-stage": "voiceToVoiceMs" });
  add("text", { x: labelWidth + total * scale + 4, y: y + 11 }, `${latency.voiceToVoiceMs} ms`);
  $("#waterfall").prepend(svg);
}

async function loadAgents() {
  const response = await fetch("/api/agents");
  const { agents } = await response.json();
  const select = $("#agent");
  select.replaceChildren(...agents.map((agent) => element("option", { value: agent.key }, agent.key)));
  const wanted = new URLSearchParams(location.search).get("agent");
  if (wanted) select.value = wanted;
  if (!agents.length) setStatus("This gateway serves no agents.");
}

async function onTalk(event) {
  event.preventDefault();
  if (current) {
    current.hangUp();
    return;
  }
  const call = new Call($("#agent").value, $("#api-key").value);
  current = call;
  $("#conversation").replaceChildren();
  $("#waterfall").replaceChildren();
  setStatus("Connecting…");
  try {
    await call.start();
  } catch (error) {
    setStatus(`Could not start the call: ${error.message}`);
    call.release();
    finished(call);
  }
}

// --- calls page --------------------------------------------------------------------------

// A phone call's provider, direction and numbers ("" for calls over other transports).
function phoneLine(call) {
  if (!call.phoneProvider) return "";
  return `${call.phoneProvider} ${call.phoneDirection}: ${call.phoneFrom || "unknown"} → ${call.phoneTo || "unknown"}`;
}

// Calls come a page at a time: `next` is the cursor for older ones (null on the last page).
async function loadCalls(before = null) {
  const query = before ? `limit=100&before=${encodeURIComponent(before)}` : "limit=100";
  const response = await fetch(`/api/calls?${query}`);
  const body = await response.json();
  const rows = (body.calls || []).map((call) => {
    const row = element("tr");
    const open = element("button", { type: "button", "data-call": call.callId }, new Date(call.endedAt).toLocaleString());
    open.addEventListener("click", () => showCall(call.callId));
    const first = element("td");
    first.append(open);
    row.append(first, element("td", {}, call.agent), element("td", {}, call.channel),
      element("td", { class: "phone" }, phoneLine(call)), element("td", {}, String(call.turns)),
      element("td", {}, call.endReason));
    return row;
  });
  const table = $("#calls tbody");
  $("#older-calls")?.remove();
  if (before) table.append(...rows);
  else table.replaceChildren(...rows);
  if (!before && !rows.length) table.append(element("tr", {}, "No calls yet."));
  if (body.next) {
    const more = element("button", { type: "button" }, "Older calls");
    more.addEventListener("click", () => loadCalls(body.next));
    const row = element("tr", { id: "older-calls" });
    const cell = element("td", { colspan: "6" });
    cell.append(more);
    row.append(cell);
    table.append(row);
  }
}

// One call's turns come a page at a time (`nextTurnsFrom`, null on the last page); a record
// holds at most the agent's callPolicy.limits.maxRecordTurns, so this ends after a few pages.
async function fetchCall(callId) {
  const path = `/api/calls/${encodeURIComponent(callId)}`;
  let response = await fetch(path);
  if (!response.ok) return null;
  const call = await response.json();
  let next = call.nextTurnsFrom;
  for (let pages = 0; next !== null && next !== undefined && pages < 100; pages += 1) {
    response = await fetch(`${path}?turnsFrom=${next}`);
    if (!response.ok) break;
    const page = await response.json();
    call.turns.push(...page.turns);
    call.toolCalls.push(...page.toolCalls);
    next = page.nextTurnsFrom;
  }
  return call;
}

// A recorded call gets a player: the WAV is served in byte ranges, caller left, agent right.
function recordingPlayer(call) {
  if (!call.recording) return [];
  const label = element("p", { class: "hint" }, "Recording: caller on the left, agent on the right.");
  const audio = element("audio", {
    controls: "",
    preload: "metadata",
    src: `/api/calls/${encodeURIComponent(call.callId)}/recording`,
    "aria-label": `Recording of call ${call.callId}`,
  });
  return [label, audio];
}

async function showCall(callId) {
  const call = await fetchCall(callId);
  if (!call) return;
  $("#call-detail").hidden = false;
  const cut = call.truncated ? " (record truncated at the agent's limits)" : "";
  $("#call-detail-heading").textContent = `Call ${call.callId} with ${call.agent} over ${call.channel}: ${new Date(call.startedAt).toLocaleString()}, ended ${call.endReason}${cut}`;
  $("#turns tbody").replaceChildren(...call.turns.map((turn) => {
    const row = element("tr");
    for (const value of [turn.number, turn.callerText, turn.agentText + (turn.interrupted ? " …(interrupted)" : ""),
      `${turn.endpointingMs} ms`, `${turn.asrFinalMs} ms`, `${turn.retrievalMs} ms`, `${turn.llmTtftMs} ms`, `${turn.ttsTtfbMs} ms`,
      `${turn.voiceToVoiceMs} ms`]) {
      row.append(element("td", {}, String(value)));
    }
    return row;
  }));
  const phone = phoneLine(call);
  $("#call-phone").hidden = !phone;
  $("#call-phone").textContent = phone ? `Phone call (${phone}), call id ${call.phoneCallSid}` : "";
  $("#recording").replaceChildren(...recordingPlayer(call));
  $("#tool-calls").replaceChildren(...call.toolCalls.map((tool) =>
    element("li", {}, `Turn ${tool.turn}: ${tool.name} ${tool.ok ? "ok" : `failed (${tool.error})`} in ${tool.latencyMs} ms`)));
}

// --- navigation --------------------------------------------------------------------------

function route() {
  const calls = location.hash === "#calls";
  $("#talk-page").hidden = calls;
  $("#calls-page").hidden = !calls;
  $("#nav-talk").toggleAttribute("aria-current", !calls);
  $("#nav-calls").toggleAttribute("aria-current", calls);
  if (calls) {
    $("#nav-calls").setAttribute("aria-current", "page");
    loadCalls();
  } else {
    $("#nav-talk").setAttribute("aria-current", "page");
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#call-form").addEventListener("submit", onTalk);
  $("#mute").addEventListener("click", () => {
    if (!current) return;
    const muted = $("#mute").getAttribute("aria-pressed") !== "true";
    current.mute(muted);
    $("#mute").setAttribute("aria-pressed", String(muted));
    $("#mute").textContent = muted ? "Unmute" : "Mute";
  });
  $("#text-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#text").value.trim();
    if (current && text) {
      current.sendText(text);
      $("#text").value = "";
    }
  });
  loadAgents().catch((error) => setStatus(`Could not load agents: ${error.message}`));
  route();
});
