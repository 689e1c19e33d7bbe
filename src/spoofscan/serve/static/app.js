// spoofscan page: upload or record audio, show the service's verdict, p_fake, a spectrogram and
// the per-window timeline. Plain JavaScript, no build step, nothing loaded from elsewhere.
// The verdict always comes from the server (POST v1/detect); the spectrogram is drawn here from
// the browser's own decoding of the file, for the eye only.
"use strict";

const API = "v1/";            // relative: works behind a proxy that serves the app under a prefix
const PARALLEL_UPLOADS = 2;   // files sent at once when several are dropped
const MAX_RETRIES = 3;        // on 503 (busy), after the server's Retry-After
const SPEC_FFT = 512;         // spectrogram frame (32 ms at 16 kHz)
const SPEC_RATE = 16000;      // Hz, what the browser resamples to for the spectrogram
const SPEC_RANGE_DB = 75;     // dynamic range shown
const PLOT_LEFT = 38;         // px: both charts share this left margin, so their time axes align
const PLOT_RIGHT = 8;
const LABELS = { real: "Real", fake: "Fake", "partly fake": "Partly fake", "no speech": "No speech" };
const CLASSES = { "no speech": "none", "partly fake": "partly" };   // CSS class of a label
const RUN_COLOUR = "#d97706";  // the runs of fake windows, on the timeline and the spectrogram
const RUN_STRIP = 6;           // px: the height of the strip that marks a run along a chart's top
// the service's error kinds in a few words, for the table and the verdict (unknown kinds: "not scored")
const ERROR_WORDS = {
  not_audio: "not audio", not_multipart: "not audio", empty: "no audio in it", truncated: "cut short",
  too_short: "too short", too_long: "too long", body_too_large: "file too large", too_many_files: "too many files",
  bad_sample_rate: "odd sample rate", not_finite: "broken samples", bad_audio: "broken audio",
  unauthorized: "API key refused", queue_full: "server busy", upload_timeout: "upload too slow",
  network: "no connection", internal: "server error",
};

const $ = (id) => document.getElementById(id);
const state = { entries: [], selected: -1, key: sessionStorage.getItem("spoofscan-key") || "", model: null,
                waitingForKey: [] };

// ------------------------------------------------------------------ talking to the service

function headers() {
  return state.key ? { "X-API-Key": state.key } : {};
}

async function loadModel() {
  try {
    const r = await fetch(API + "model", { headers: headers() });
    if (r.status === 401) { askForKey(); $("model-line").textContent = "This server needs an API key."; return; }
    $("key-box").hidden = true;
    if (!r.ok) throw new Error("HTTP " + r.status);
    const data = await r.json();
    state.model = data.model;
    const m = data.model, lim = data.limits;
    $("model-line").textContent = `Model ${m.name}` + (m.version ? ` · version ${m.version}` : "") +
      (m.sha256 ? ` · sha256 ${m.sha256}` : "") + ` · ${m.backend} ${m.precision}` +
      ` · windows of ${m.window_seconds} s every ${m.hop_seconds} s · spoofscan ${m.spoofscan_version}`;
    document.querySelectorAll(".threshold").forEach((el) => { el.textContent = String(m.threshold); });
    document.querySelectorAll(".window-text").forEach((el) => {
      el.textContent = `${m.window_seconds} s each, every ${m.hop_seconds} s`;
    });
    const longest = lim.max_seconds ? ` up to ${formatTime(lim.max_seconds)} of audio,` : "";
    $("limits").textContent = `wav, flac, mp3, ogg/opus, m4a and more;${longest} ${lim.max_body_mb} MiB per file.`;
  } catch (e) {
    $("model-line").textContent = "Cannot reach the service: " + e.message;
  }
}

async function detect(entry) {
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    form.append("file", entry.file, entry.name);
    let r;
    try {
      r = await fetch(API + "detect", { method: "POST", body: form, headers: headers() });
    } catch (e) {
      return { ok: false, status: 0, error: "network", detail: "the service cannot be reached (" + e.message + ")" };
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.status === 503 && attempt < MAX_RETRIES) {
      const wait = Math.min(30, Number(r.headers.get("Retry-After")) || 2);
      setStatus(`The server is busy; trying ${entry.name} again in ${wait} s…`);
      await new Promise((done) => setTimeout(done, wait * 1000));
      continue;
    }
    if (r.ok && body) return body;
    return { ok: false, status: r.status, error: body ? body.error : "http_error",
             detail: body ? body.detail : `HTTP ${r.status}` };
  }
}

// ------------------------------------------------------------------ files in, results out

function addFiles(files) {
  const fresh = [];
  for (const file of files) {
    const entry = { name: file.name || "recording", file, status: "pending", data: null, url: null };
    state.entries.push(entry);
    fresh.push(entry);
  }
  if (!fresh.length) return;
  select(state.entries.indexOf(fresh[0]));   // show the newest upload
  runQueue(fresh);
}

async function runQueue(entries) {
  const todo = entries.slice();
  setStatus(`Scoring ${todo.length} file${todo.length > 1 ? "s" : ""}…`);
  const worker = async () => {
    while (todo.length) {
      const entry = todo.shift();
      const data = await detect(entry);
      if (data.status === 401) {
        entry.status = "key";
        state.waitingForKey.push(entry);
        askForKey();
        renderTable();
        if (state.entries[state.selected] === entry) showResult(entry);
        continue;
      }
      entry.data = data;
      entry.status = data.ok ? "done" : "error";
      renderTable();
      if (state.entries[state.selected] === entry) showResult(entry);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_UPLOADS }, worker));
  const done = state.entries.filter((e) => e.status === "done").length;
  const failed = state.entries.filter((e) => e.status === "error").length;
  if (!state.waitingForKey.length) {
    setStatus(`${done} scored` + (failed ? `, ${failed} could not be scored` : "") + ".", failed > 0 && !done);
  }
}

// The key box, saying whether no key was given yet or the one given was refused.
function askForKey() {
  const refused = Boolean(state.key);
  const message = refused ? "The server refused this API key: check it and enter it again."
                          : "This server needs an API key: enter it to score your files.";
  $("key-box").hidden = false;
  $("key-message").textContent = message;
  $("key-message").classList.toggle("error", refused);
  setStatus("");   // the key box says it
  $("api-key").focus();
}

$("key-box").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.key = $("api-key").value.trim();
  sessionStorage.setItem("spoofscan-key", state.key);
  $("key-box").hidden = true;
  loadModel();
  const again = state.waitingForKey.splice(0);
  again.forEach((entry) => { entry.status = "pending"; });
  renderTable();
  const shown = state.entries[state.selected];
  if (shown && again.includes(shown)) showResult(shown);
  if (again.length) runQueue(again);
});

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// ------------------------------------------------------------------ the table of files

function errorWords(data) {
  return ERROR_WORDS[data.error] || "not scored";
}

function tagFor(entry) {
  if (entry.status === "pending") return ["pending", "scoring…"];
  if (entry.status === "key") return ["key", "waiting for key"];
  if (entry.status === "error") return ["error", errorWords(entry.data)];
  const label = entry.data.label;
  return [CLASSES[label] || label, LABELS[label] || label];
}

function renderTable() {
  $("files").hidden = state.entries.length < 2;
  const body = $("file-table").querySelector("tbody");
  body.textContent = "";
  state.entries.forEach((entry, i) => {
    const tr = document.createElement("tr");
    const [cls, text] = tagFor(entry);
    tr.dataset.file = entry.name;
    tr.dataset.state = entry.status;
    tr.dataset.label = entry.status === "done" ? entry.data.label : "";
    tr.dataset.pFake = entry.status === "done" && entry.data.p_fake !== null ? String(entry.data.p_fake) : "";
    if (i === state.selected) tr.classList.add("selected");
    const cells = [entry.name, null,
                   entry.status === "done" ? formatP(entry.data.p_fake) : "",
                   entry.status === "done" ? formatTime(entry.data.duration) : ""];
    cells.forEach((value, k) => {
      const td = document.createElement("td");
      if (k === 0) { td.className = "name"; td.title = entry.name; }
      if (k === 1) {
        const span = document.createElement("span");
        span.className = "tag " + cls;
        span.textContent = text;
        td.appendChild(span);
      } else {
        td.textContent = value;
      }
      tr.appendChild(td);
    });
    tr.addEventListener("click", () => select(i));
    body.appendChild(tr);
  });
}

function select(i) {
  state.selected = i;
  renderTable();
  showResult(state.entries[i]);
}

// ------------------------------------------------------------------ one result

function showResult(entry) {
  $("result").hidden = false;
  $("result-file").textContent = entry.name;
  const verdict = $("verdict");
  verdict.dataset.file = entry.name;
  if (!entry.url) entry.url = URL.createObjectURL(entry.file);
  if ($("player").dataset.file !== entry.name || $("player").src !== entry.url) {
    $("player").src = entry.url;
    $("player").dataset.file = entry.name;
  }
  $("timeline-block").hidden = entry.status !== "done";
  // a file the server could not score is most often one the browser cannot play or draw either
  $("spec-block").hidden = entry.status === "error";
  $("player").hidden = entry.status === "error" || Boolean(entry.unplayable);
  $("spec-note").textContent = "";
  if (entry.status === "done") {
    showVerdict(entry.data);
    drawTimeline($("timeline"), entry.data);
    drawSpectrogram(entry);
    return;
  }
  $("pfake-block").hidden = true;
  $("facts").textContent = "";
  clearCanvas($("timeline"));
  $("timeline").dataset.windows = "0";
  if (entry.status === "error") {
    verdict.className = "verdict error";
    verdict.textContent = `Not scored: ${errorWords(entry.data)}`;
    verdict.dataset.label = "error";
    const prefix = entry.name + ": ";   // the server names the file; the page shows the name above
    const detail = entry.data.detail.startsWith(prefix) ? entry.data.detail.slice(prefix.length) : entry.data.detail;
    $("explain").textContent = `The server could not score this file: ${detail}.`;
    showFacts([["Server's answer", entry.data.status ? `HTTP ${entry.data.status} (${entry.data.error})`
                                                     : entry.data.error]]);
    return;
  }
  verdict.className = "verdict none";
  verdict.dataset.label = "";
  if (entry.status === "key") {
    verdict.textContent = "Waiting for the API key";
    $("explain").textContent = "This server needs an API key: enter it above and the file is sent.";
  } else {
    verdict.textContent = "Scoring…";
    $("explain").textContent = "";
  }
  drawSpectrogram(entry);
}

function showFacts(facts) {
  const dl = $("facts");
  dl.textContent = "";
  for (const [k, v] of facts) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  }
}

function showVerdict(d) {
  const verdict = $("verdict");
  const none = d.label === "no speech";
  const runs = d.segments || [];
  verdict.className = "verdict " + (CLASSES[d.label] || d.label);
  verdict.textContent = (LABELS[d.label] || d.label) + (d.label === "partly fake" ? ": " + runText(runs) : "");
  verdict.dataset.label = d.label;
  verdict.dataset.segments = runs.map((r) => `${r.start}-${r.end}`).join(" ");
  verdict.dataset.pFake = d.p_fake === null ? "" : String(d.p_fake);
  $("pfake-block").hidden = none || d.p_fake === null;
  if (d.p_fake !== null) {
    $("meter-fill").style.width = `${(100 * d.p_fake).toFixed(1)}%`;
    $("meter-fill").classList.toggle("fake", d.p_fake >= d.threshold);
    $("meter-threshold").style.left = `calc(${(100 * d.threshold).toFixed(1)}% - 1px)`;
    $("pfake-text").textContent = `p_fake = ${formatP(d.p_fake)}: the probability that this clip is fake, ` +
      `if real and fake were equally likely before listening. Fake at or above ${d.threshold}.`;
  }
  if (none) {
    const share = d.speech === null ? "" : ` (speech found in ${(100 * d.speech).toFixed(0)} % of it)`;
    $("explain").textContent = `No verdict: the clip holds too little speech to judge${share}. ` +
      "spoofscan does not judge silence, music, noise or tones.";
  } else if (d.label === "partly fake") {
    $("explain").textContent = "On average the clip sounds real, but in the marked seconds several windows in a " +
      "row sound synthetic: a real recording with a synthetic passage spliced in looks like this.";
  } else if (d.label === "fake") {
    $("explain").textContent = "The model finds this voice more likely synthetic (text-to-speech, voice " +
      "conversion or a vocoded copy) than real. See the timeline for which seconds look synthetic.";
  } else {
    $("explain").textContent = "The model finds this voice more likely a real person than synthetic. " +
      "Check the timeline: a short synthetic passage moves the clip's verdict little.";
  }
  const facts = [["Length", formatTime(d.duration)], ["Windows", String(d.windows)]];
  if (d.score !== null) {
    facts.push(["Score", `${d.score.toFixed(3)}: the model's raw score, before calibration; the higher, the more ` +
                         "like a real voice (p_fake is computed from it)"]);
  }
  if (d.speech !== null && d.speech !== undefined) facts.push(["Speech", `${(100 * d.speech).toFixed(0)} % of the clip`]);
  if (runs.length) facts.push(["Fake passages", runText(runs) + " (windows in a row that score fake, marked " +
                                                     "on the charts; the resolution is the window hop)"]);
  if (d.padded) facts.push(["Note", "shorter than one window: repeated to fill it"]);
  facts.push(["Model", `${d.model.name}` + (d.model.version ? ` (${d.model.version})` : "") +
              (d.model.sha256 ? ` · ${d.model.sha256}` : "")]);
  facts.push(["Request", `${d.request_id} · ${d.processing_ms} ms`]);
  showFacts(facts);
}

// ------------------------------------------------------------------ charts

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 600;
  if (!canvas.dataset.cssHeight) canvas.dataset.cssHeight = canvas.getAttribute("height");
  const cssHeight = Number(canvas.dataset.cssHeight);
  canvas.dataset.ratio = String(ratio);
  canvas.width = Math.round(cssWidth * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  canvas.style.height = cssHeight + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, w: cssWidth, h: cssHeight };
}

function clearCanvas(canvas) {
  const { ctx, w, h } = fitCanvas(canvas);
  ctx.clearRect(0, 0, w, h);
}

function timeTicks(duration, width) {
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const fit = Math.max(2, Math.floor(width / 70));
  const step = steps.find((s) => duration / s <= fit) || steps[steps.length - 1];
  const ticks = [];
  for (let t = 0; t <= duration + 1e-9; t += step) ticks.push(t);
  return ticks;
}

function drawTimeline(canvas, d) {
  const { ctx, w, h } = fitCanvas(canvas);
  const top = 10, bottom = h - 22, left = PLOT_LEFT, right = w - PLOT_RIGHT;
  const duration = Math.max(d.duration, 1e-3);
  const x = (t) => left + (right - left) * Math.min(1, t / duration);
  const y = (p) => bottom - (bottom - top) * p;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5b6475";
  ctx.strokeStyle = "#e3e6ec";
  ctx.lineWidth = 1;
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {            // y grid: p_fake
    ctx.beginPath(); ctx.moveTo(left, y(p)); ctx.lineTo(right, y(p)); ctx.stroke();
    ctx.fillText(p.toFixed(2), 4, y(p) + 4);
  }
  for (const t of timeTicks(duration, right - left)) {   // x axis: seconds
    ctx.fillText(formatTime(t), Math.min(x(t) - 8, right - 30), h - 6);
  }
  const windows = d.timeline || [];
  // each window's span, tinted by its verdict (overlaps add up to deeper colour)
  for (const win of windows) {
    const fake = win.p_fake !== null && win.p_fake >= d.threshold;
    ctx.fillStyle = win.p_fake === null ? "rgba(91,100,117,0.10)" : fake ? "rgba(179,38,30,0.13)" : "rgba(26,127,75,0.10)";
    const top_ = win.p_fake === null ? top : y(win.p_fake);
    ctx.fillRect(x(win.start), top_, Math.max(1, x(win.end) - x(win.start)), bottom - top_);
  }
  markRuns(ctx, d.segments, x, top, bottom);
  ctx.setLineDash([5, 4]);                               // the threshold
  ctx.strokeStyle = "#2f5bd3";
  ctx.beginPath(); ctx.moveTo(left, y(d.threshold)); ctx.lineTo(right, y(d.threshold)); ctx.stroke();
  ctx.setLineDash([]);
  ctx.strokeStyle = "#1d2330";                           // p_fake through the window centres
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let drawing = false;
  for (const win of windows) {
    if (win.p_fake === null) { drawing = false; continue; }
    const cx = x((win.start + win.end) / 2), cy = y(win.p_fake);
    if (drawing) ctx.lineTo(cx, cy); else ctx.moveTo(cx, cy);
    drawing = true;
  }
  ctx.stroke();
  for (const win of windows) {
    if (win.p_fake === null) continue;
    ctx.fillStyle = win.p_fake >= d.threshold ? "#b3261e" : "#1a7f4b";
    ctx.beginPath();
    ctx.arc(x((win.start + win.end) / 2), y(win.p_fake), windows.length > 200 ? 1.5 : 3, 0, 2 * Math.PI);
    ctx.fill();
  }
  canvas.dataset.windows = String(windows.length);
  canvas.dataset.segments = String((d.segments || []).length);
  canvas.onmousemove = (ev) => readWindow(ev, canvas, d, x, false);
  canvas.onclick = (ev) => readWindow(ev, canvas, d, x, true);
}

// The runs of fake windows: a light band over the chart and a strip along its top, in RUN_COLOUR.
function markRuns(ctx, runs, x, top, bottom) {
  for (const run of runs || []) {
    const x0 = x(run.start), width = Math.max(2, x(run.end) - x0);
    ctx.fillStyle = "rgba(217,119,6,0.12)";
    ctx.fillRect(x0, top, width, bottom - top);
    ctx.fillStyle = RUN_COLOUR;
    ctx.fillRect(x0, 0, width, RUN_STRIP);
  }
}

function runText(runs) {
  return runs.map((r) => `${r.start.toFixed(1)}-${r.end.toFixed(1)} s`).join(", ");
}

function readWindow(ev, canvas, d, x, seek) {
  const rect = canvas.getBoundingClientRect();
  const px = ev.clientX - rect.left;
  const windows = d.timeline || [];
  let best = null;
  for (const win of windows) {
    const dist = Math.abs(x((win.start + win.end) / 2) - px);
    if (best === null || dist < best.dist) best = { win, dist };
  }
  if (!best) return;
  const win = best.win;
  $("timeline-readout").textContent = `${formatTime(win.start)}–${formatTime(win.end)}: ` +
    (win.p_fake === null ? "no speech" : `p_fake ${formatP(win.p_fake)}`) +
    (win.speech !== null && win.speech !== undefined ? `, speech ${(100 * win.speech).toFixed(0)} %` : "");
  if (seek) {
    const player = $("player");
    player.currentTime = win.start;
    player.play().catch(() => {});
  }
}

async function drawSpectrogram(entry) {
  const canvas = $("spectrogram");
  const { ctx, w, h } = fitCanvas(canvas);
  ctx.clearRect(0, 0, w, h);
  canvas.dataset.drawn = "0";
  $("spec-note").textContent = "";
  let samples;
  try {
    if (!entry.samples) {
      const context = new OfflineAudioContext(1, 1, SPEC_RATE);
      const audio = await context.decodeAudioData(await entry.file.arrayBuffer());
      entry.samples = mixDown(audio);
    }
    samples = entry.samples;
  } catch (e) {
    if (state.entries[state.selected] !== entry) return;
    $("spec-block").hidden = true;   // no empty box: say why there is no picture instead
    $("spec-note").textContent = "No spectrogram: this browser cannot decode this file's format (the server can: " +
      "the verdict is the server's).";
    return;
  }
  if (state.entries[state.selected] !== entry) return;   // another file was selected meanwhile
  const left = PLOT_LEFT, right = w - PLOT_RIGHT;
  const ratio = Number(canvas.dataset.ratio) || 1;
  const cols = Math.max(1, Math.round((right - left) * ratio)), rows = Math.round(h * ratio);
  const image = ctx.createImageData(cols, rows);
  const frames = spectrogram(samples, cols);
  let peak = -Infinity;
  for (const f of frames) for (const v of f) if (v > peak) peak = v;
  const bins = SPEC_FFT / 2;
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++) {
      const bin = Math.min(bins - 1, Math.floor((1 - r / rows) * bins));
      const level = Math.max(0, Math.min(1, 1 + (frames[c][bin] - peak) / SPEC_RANGE_DB));
      const [red, green, blue] = colour(level);
      const k = 4 * (r * cols + c);
      image.data[k] = red; image.data[k + 1] = green; image.data[k + 2] = blue; image.data[k + 3] = 255;
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.putImageData(image, Math.round(left * ratio), 0);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5b6475";
  for (const khz of [0, 2, 4, 6, 8]) ctx.fillText(`${khz}k`, 8, Math.max(10, h - (h * khz) / 8 + (khz ? 4 : -2)));
  const runs = entry.status === "done" ? entry.data.segments || [] : [];
  const duration = samples.length / SPEC_RATE || 1e-3;
  for (const run of runs) {   // the runs of fake windows: a strip along the top and an outline
    const x0 = left + (right - left) * Math.min(1, run.start / duration);
    const x1 = left + (right - left) * Math.min(1, run.end / duration);
    ctx.fillStyle = RUN_COLOUR;
    ctx.fillRect(x0, 0, Math.max(2, x1 - x0), RUN_STRIP);
    ctx.strokeStyle = RUN_COLOUR;
    ctx.lineWidth = 2;
    ctx.strokeRect(x0 + 1, 1, Math.max(2, x1 - x0) - 2, h - 2);
  }
  canvas.dataset.segments = String(runs.length);
  canvas.dataset.drawn = "1";
}

function mixDown(audio) {
  const out = new Float32Array(audio.length);
  for (let ch = 0; ch < audio.numberOfChannels; ch++) {
    const data = audio.getChannelData(ch);
    for (let i = 0; i < data.length; i++) out[i] += data[i] / audio.numberOfChannels;
  }
  return out;
}

// Power spectra (dB) of `cols` Hann-windowed frames spread evenly over the clip.
function spectrogram(x, cols) {
  const n = SPEC_FFT, hann = new Float32Array(n);
  for (let i = 0; i < n; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  const re = new Float64Array(n), im = new Float64Array(n), out = [];
  for (let c = 0; c < cols; c++) {
    const centre = Math.floor(((c + 0.5) / cols) * x.length);
    for (let i = 0; i < n; i++) {
      const j = centre - n / 2 + i;
      re[i] = j >= 0 && j < x.length ? x[j] * hann[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    const frame = new Float32Array(n / 2);
    for (let k = 0; k < n / 2; k++) frame[k] = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
    out.push(frame);
  }
  return out;
}

// In-place radix-2 FFT (length a power of two).
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len, wr = Math.cos(ang), wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1, ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k, b = a + len / 2;
        const tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
        const next = cr * wr - ci * wi; ci = cr * wi + ci * wr; cr = next;
      }
    }
  }
}

// A dark-to-bright palette (black, purple, red, orange, pale yellow) for levels 0..1.
const STOPS = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
function colour(level) {
  const pos = level * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(pos)), f = pos - i;
  return STOPS[i].map((v, k) => Math.round(v + f * (STOPS[i + 1][k] - v)));
}

// ------------------------------------------------------------------ formatting

function formatP(p) { return p === null || p === undefined ? "–" : p.toFixed(3); }

function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Number(seconds.toFixed(seconds < 10 ? 2 : 1))} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}

// ------------------------------------------------------------------ input: picker, drop, microphone

$("file").addEventListener("change", (ev) => { addFiles(Array.from(ev.target.files)); ev.target.value = ""; });

const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
drop.addEventListener("drop", (ev) => { ev.preventDefault(); addFiles(Array.from(ev.dataTransfer.files)); });
// a file dropped beside the zone must not make the browser leave the page to open it
window.addEventListener("dragover", (ev) => ev.preventDefault());
window.addEventListener("drop", (ev) => ev.preventDefault());

const recorder = { media: null, chunks: [], timer: null, started: 0 };
const recordButton = $("record");
if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder)) {
  recordButton.disabled = true;
  recordButton.title = "Recording needs microphone access, which browsers give only over https or on localhost.";
}
recordButton.addEventListener("click", async () => {
  if (recorder.media) { recorder.media.stop(); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    setStatus("No microphone: " + e.message, true);
    return;
  }
  const media = new MediaRecorder(stream);
  recorder.media = media;
  recorder.chunks = [];
  recorder.started = Date.now();
  media.ondataavailable = (ev) => { if (ev.data.size) recorder.chunks.push(ev.data); };
  media.onstop = () => {
    clearInterval(recorder.timer);
    stream.getTracks().forEach((t) => t.stop());
    recorder.media = null;
    recordButton.classList.remove("recording");
    recordButton.innerHTML = "&#9679; Record";
    const type = media.mimeType || "audio/webm";
    const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const stamp = new Date().toISOString().slice(11, 19).replace(/:/g, "");
    addFiles([new File(recorder.chunks, `recording-${stamp}.${ext}`, { type })]);
  };
  media.start(250);
  recordButton.classList.add("recording");
  const tick = () => {
    const seconds = (Date.now() - recorder.started) / 1000;
    recordButton.textContent = `■ Stop (${formatTime(Math.floor(seconds))})`;
  };
  tick();
  recorder.timer = setInterval(tick, 500);
});

// a format this browser cannot play: no dead player
$("player").addEventListener("error", () => {
  const entry = state.entries.find((e) => e.url && e.url === $("player").src);
  if (entry) entry.unplayable = true;
  if (entry && state.entries[state.selected] === entry) $("player").hidden = true;
});

window.addEventListener("resize", () => {
  const entry = state.entries[state.selected];
  if (entry && entry.status === "done") drawTimeline($("timeline"), entry.data);
  if (entry && entry.samples) drawSpectrogram(entry);
});

loadModel();
