// The camera page: the browser's camera streamed to nvt-server over a WebSocket that carries the
// classic exchange byte for byte (docs/protocol.md, "The camera page"), as nvt-client streams
// over TCP. The server sends a timestamp; the page answers at once with the newest frame it has
// encoded (or, when none came within 30 ms, the last one again: a repeat; the length in a
// message of its own, so that the server can time the upload), then reads the flag
// and, after a '1', the 1024-byte reply with the detections, which it draws over the video.
// Frames are never queued: one encoded frame waits at most, replaced by each newer one, and one
// is in flight at a time. The JPEG quality, and below quality 40 the frame size, follow the
// link as nvt-client's do (client/src/fit.rs).
//
// Everything the server sends (labels) is drawn or set as text, never parsed as HTML; the
// page's Content-Security-Policy allows no inline script.
'use strict';

const FIELD = 32;
const REPLY = 1024;
/** How long a timestamp may wait for a new frame before the last one is sent again. */
const REPEAT_BUDGET_MS = 30;
/** The encoder's settings, best first: quality, then size (client/src/fit.rs's ladder). */
const LADDER = [
  [100, 1, 1], [95, 1, 0.48], [90, 1, 0.30], [85, 1, 0.20], [80, 1, 0.154], [70, 1, 0.108],
  [60, 1, 0.076], [50, 1, 0.057], [40, 1, 0.044], [50, 0.75, 0.034], [70, 0.5, 0.021],
  [50, 0.5, 0.016], [70, 0.25, 0.010],
].map(([quality, scale, share]) => ({ quality, scale, share }));
const COLOURS = ['#ff4d4d', '#3fb950', '#4cc2ff', '#d29922', '#bc8cff', '#ff7b72'];

const $ = id => document.getElementById(id);
const body = document.body;
const video = $('video');
const overlay = $('overlay');
const params = new URLSearchParams(location.search);

/** Fits the frames to the link: the budget a frame may take to upload, for the server's rule
 * and the link's round trip, and the best rung whose frames fit it (down at once, up one rung
 * after three exchanges in a row that fit it). */
class Fit {
  constructor(ceiling) {
    this.ceiling = ceiling;
    this.rungs = [];
    for (const rung of LADDER) {
      const r = { ...rung, quality: Math.min(rung.quality, ceiling) };
      const last = this.rungs[this.rungs.length - 1];
      if (last && last.quality === r.quality && last.scale === r.scale) last.share = r.share;
      else this.rungs.push(r);
    }
    this.current = 0;
    this.sizes = this.rungs.map(() => null);
    this.fitting = 0;
    this.rule = { judged: 'wait', limit: 80 };
    this.rates = [];
  }

  encoded(rung, bytes, now) {
    const old = this.sizes[rung];
    this.sizes[rung] = { size: old ? 0.7 * old.size + 0.3 * bytes : bytes, at: now };
  }

  sizeOf(rung, now) {
    const fresh = r => this.sizes[r] && now - this.sizes[r].at <= 10000 ? this.sizes[r] : null;
    if (fresh(rung)) return fresh(rung).size;
    let known = -1;
    for (let r = 0; r < this.rungs.length; r++) {
      if (fresh(r) && (known < 0 || fresh(r).at > fresh(known).at)) known = r;
    }
    return known < 0 ? null : fresh(known).size * this.rungs[rung].share / this.rungs[known].share;
  }

  budget(rtt, interval) {
    const forRate = interval - rtt >= 17 ? Math.min(interval - rtt - 2, 100) : 30;
    return this.rule.judged === 'lag' ? Math.min(forRate, this.rule.limit - 10 - rtt - 2) : forRate;
  }

  /** Learns from the server's report on an exchange of `bytes`, and picks the next rung. */
  exchanged(report, bytes, interval, now) {
    if (!report) return;
    this.rule = { judged: report.judged, limit: report.limit_ms };
    this.rates.push(bytes / Math.max(report.upload_ms, 0.1));
    if (this.rates.length > 8) this.rates.shift();
    const rate = median(this.rates);
    const target = this.budget(report.rtt_ms, interval) * rate * 0.85;
    let best = this.rungs.findIndex((_, r) => { const s = this.sizeOf(r, now); return s !== null && s <= target; });
    if (best < 0) best = this.rungs.length - 1;
    if (best > this.current) { this.current = best; this.fitting = 0; }
    else if (best < this.current) {
      if (++this.fitting >= 3) { this.current--; this.fitting = 0; }
    } else this.fitting = 0;
  }
}

function median(values) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A fixed-width ASCII field, left-aligned and space padded. */
function field(text) {
  const out = new Uint8Array(FIELD).fill(0x20);
  for (let i = 0; i < text.length && i < FIELD; i++) out[i] = text.charCodeAt(i);
  return out;
}

const fit = new Fit(Math.min(100, Math.max(1, Number(params.get('quality')) || 90)));
const canvas = document.createElement('canvas');
const context = canvas.getContext('2d');
const run = {
  on: false,
  stream: null,
  socket: null,
  retry: 500,
  retryTimer: 0,
  wakeLock: null,
  /** The newest encoded frame not yet sent; the last frame sent; who waits for a new one. */
  newest: null,
  last: null,
  waiter: null,
  encoding: false,
  encoded: 0,
  /** When the camera's recent frames came, for its interval. */
  frameTimes: [],
};
const stats = { exchanges: 0, accepted: 0, stale: 0, repeats: 0, rtts: [], acceptedAt: [], connections: 0 };

function say(text) { $('message').textContent = text; }

function setState(state) {
  body.dataset.state = state;
  $('state').textContent = state;
}

/** The camera's frame interval in ms, from its recent frames (30 fps until known). */
function interval() {
  const t = run.frameTimes;
  if (t.length < 3) return 1000 / 30;
  const gaps = t.slice(1).map((v, i) => v - t[i]);
  return Math.min(1000, Math.max(5, median(gaps)));
}

// ---- capture and encoding: the newest frame wins ----

function nextVideoFrame() {
  if (!run.on) return;
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onVideoFrame);
  else setTimeout(() => onVideoFrame(performance.now()), 1000 / 30);
}

async function onVideoFrame(now) {
  if (!run.on) return;
  run.frameTimes.push(now);
  if (run.frameTimes.length > 16) run.frameTimes.shift();
  if (!run.encoding && video.videoWidth > 0) {
    run.encoding = true;
    try { await encode(); } catch (e) { say(`cannot encode a frame: ${e}`); } finally { run.encoding = false; }
  }
  nextVideoFrame();
}

async function encode() {
  const rungIndex = fit.current;
  const rung = fit.rungs[rungIndex];
  const width = Math.max(16, Math.round(video.videoWidth * rung.scale));
  const height = Math.max(16, Math.round(video.videoHeight * rung.scale));
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  context.drawImage(video, 0, 0, width, height);
  const blob = await new Promise(done => canvas.toBlob(done, 'image/jpeg', rung.quality / 100));
  if (!blob || !run.on) return;
  const jpeg = new Uint8Array(await blob.arrayBuffer());
  fit.encoded(rungIndex, jpeg.length, performance.now());
  run.newest = { jpeg, width, height, rung: rungIndex, quality: rung.quality, index: ++run.encoded };
  if (run.waiter) run.waiter();
}

/** The frame for a timestamp that has just come: the newest not yet sent, or after waiting
 * `budget` ms for one, the last again. The first frame is waited for as long as it takes. */
async function pick(budget) {
  if (!run.newest) {
    await new Promise(resolve => {
      run.waiter = resolve;
      if (run.last) setTimeout(resolve, budget);
    });
    run.waiter = null;
  }
  if (run.newest) {
    const frame = run.newest;
    run.newest = null;
    run.last = frame;
    return { frame, repeat: false };
  }
  return { frame: run.last, repeat: true };
}

// ---- the exchange over the socket ----

/** One connection: the classic exchange, client side, over a WebSocket. */
class Connection {
  constructor(name) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = name ? `?name=${encodeURIComponent(name)}` : '';
    this.query = query;
    this.opened = false;
    this.socket = new WebSocket(`${scheme}//${location.host}/camera/socket${query}`);
    this.socket.binaryType = 'arraybuffer';
    this.inbox = new Uint8Array(0);
    this.want = 'timestamp';
    this.busy = Promise.resolve();
    /** Frame sizes by the server's number for them (its count of accepted frames here). */
    this.sizes = new Map();
    this.seq = 0;
    this.lastAccepted = false;
    this.socket.onopen = () => { this.opened = true; stats.connections++; setState('streaming'); say(''); };
    this.socket.onmessage = event => {
      const bytes = new Uint8Array(event.data);
      const joined = new Uint8Array(this.inbox.length + bytes.length);
      joined.set(this.inbox);
      joined.set(bytes, this.inbox.length);
      this.inbox = joined;
      this.busy = this.busy.then(() => this.drain()).catch(e => { say(String(e)); this.socket.close(); });
    };
    this.socket.onclose = () => (this.opened ? lost(this) : refused(this));
  }

  take(n) {
    const out = this.inbox.slice(0, n);
    this.inbox = this.inbox.slice(n);
    return out;
  }

  async drain() {
    for (;;) {
      if (this.want === 'timestamp') {
        if (this.inbox.length < FIELD) return;
        await this.answer(this.take(FIELD));
        this.want = 'flag';
      } else if (this.want === 'flag') {
        if (this.inbox.length < 1) return;
        const flag = this.take(1)[0];
        if (flag === 0x31) this.want = 'reply';
        else if (flag === 0x30) { this.verdict(null); this.want = 'timestamp'; }
        else throw new Error('the server broke the protocol');
      } else {
        if (this.inbox.length < REPLY) return;
        const text = new TextDecoder().decode(this.take(REPLY)).trim();
        let reply = {};
        try { reply = JSON.parse(text); } catch (e) { reply = {}; }
        this.verdict(reply);
        this.want = 'timestamp';
      }
    }
  }

  /** Sends a frame for timestamp `ts`: the length in a message of its own, then the JPEG and
   * the echo in a second. The server sees a message only once it has arrived whole, so the
   * first one tells it when the frame began to arrive and the second when it ended: it times
   * the upload from that, and the page fits its frames to the link by that time. */
  async answer(ts) {
    const asked = performance.now();
    const { frame, repeat } = await pick(REPEAT_BUDGET_MS);
    if (this.socket.readyState !== WebSocket.OPEN) throw new Error('the connection closed');
    const rest = new Uint8Array(FIELD + frame.jpeg.length);
    rest.set(frame.jpeg);
    rest.set(ts, frame.jpeg.length);
    this.sentAt = performance.now();
    this.socket.send(field(String(frame.jpeg.length)));
    this.socket.send(rest);
    this.current = { frame, repeat, wait: this.sentAt - asked };
  }

  /** The server's answer to the frame in flight: its reply when accepted, `null` when late. */
  verdict(reply) {
    if (!this.current) throw new Error('the server answered a frame it was not sent');
    const now = performance.now();
    const { frame, repeat } = this.current;
    const rtt = now - this.sentAt;
    stats.exchanges++;
    stats.rtts.push(rtt);
    if (stats.rtts.length > 30) stats.rtts.shift();
    run.retry = 500;
    if (repeat) stats.repeats++; else this.lastAccepted = false;
    if (reply && !this.lastAccepted) {
      this.lastAccepted = true;
      stats.accepted++;
      stats.acceptedAt.push(now);
      this.sizes.set(this.seq, frame);
      this.sizes.delete(this.seq - 64);
      this.seq++;
    }
    if (!reply) stats.stale++;
    if (reply && reply.link) fit.exchanged(reply.link, frame.jpeg.length + 2 * FIELD, interval(), now);
    if (reply) draw(reply, this.sizes.get(reply.seq) || frame);
    $('quality').textContent = `${frame.quality} · ${frame.width}x${frame.height}`;
    body.dataset.quality = String(frame.quality);
    body.dataset.width = String(frame.width);
  }
}

/** Draws the reply's detections over the video; `frame` is the frame they were found in. */
function draw(reply, frame) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(overlay.clientWidth * ratio);
  const height = Math.round(overlay.clientHeight * ratio);
  if (overlay.width !== width || overlay.height !== height) { overlay.width = width; overlay.height = height; }
  const pen = overlay.getContext('2d');
  pen.clearRect(0, 0, width, height);
  const sx = width / frame.width;
  const sy = height / frame.height;
  const drawn = [];
  pen.lineWidth = Math.max(2, 3 * ratio);
  pen.font = `${Math.round(14 * ratio)}px system-ui, sans-serif`;
  pen.textBaseline = 'bottom';
  for (const d of Array.isArray(reply.detections) ? reply.detections : []) {
    if (!Array.isArray(d.box) || d.box.length !== 4) continue;
    const [x1, y1, x2, y2] = d.box.map(Number);
    const box = { x: x1 * sx, y: y1 * sy, w: (x2 - x1) * sx, h: (y2 - y1) * sy };
    const colour = COLOURS[(Number(d.class_id) || 0) % COLOURS.length];
    const label = `${String(d.label)}${d.track_id === undefined ? '' : ' #' + d.track_id} ${Number(d.score).toFixed(2)}`;
    pen.strokeStyle = colour;
    pen.strokeRect(box.x, box.y, box.w, box.h);
    const textWidth = pen.measureText(label).width + 8 * ratio;
    const textHeight = 18 * ratio;
    const top = box.y > textHeight ? box.y - textHeight : box.y;
    const left = Math.max(0, Math.min(box.x, width - textWidth));
    pen.fillStyle = colour;
    pen.fillRect(left, top, textWidth, textHeight);
    pen.fillStyle = '#000';
    pen.fillText(label, left + 4 * ratio, top + textHeight - 3 * ratio);
    drawn.push({ label: String(d.label), track_id: d.track_id, ...box });
  }
  overlay.dataset.drawn = JSON.stringify(drawn);
  overlay.dataset.seq = String(reply.seq);
}

function showStats() {
  const now = performance.now();
  while (stats.acceptedAt.length && now - stats.acceptedAt[0] > 2000) stats.acceptedAt.shift();
  const fps = stats.acceptedAt.length / 2;
  const rtt = median(stats.rtts);
  $('fps').textContent = run.on ? fps.toFixed(1) : '–';
  $('rtt').textContent = Number.isNaN(rtt) ? '–' : `${rtt.toFixed(1)} ms`;
  $('accepted').textContent = String(stats.accepted);
  Object.assign(body.dataset, {
    exchanges: stats.exchanges, accepted: stats.accepted, stale: stats.stale, repeats: stats.repeats,
    connections: stats.connections, fps: fps.toFixed(1), rtt: Number.isNaN(rtt) ? '' : rtt.toFixed(1),
  });
}

// ---- starting, stopping, reconnecting, staying awake ----

function connect() {
  clearTimeout(run.retryTimer);
  if (!run.on) return;
  setState('connecting');
  run.socket = new Connection($('name').value.trim());
}

/** A connection ended: while streaming, connect again after a delay that doubles to 10 s. */
function lost(connection) {
  if (run.socket !== connection) return;
  run.socket = null;
  if (!run.on) return;
  setState('reconnecting');
  say(`the server is unreachable; trying again in ${(run.retry / 1000).toFixed(1)} s`);
  run.retryTimer = setTimeout(connect, run.retry);
  run.retry = Math.min(10000, run.retry * 2);
}

/** The server's refusals that waiting cannot end: a bad name, a token missing or wrong, a
 * protected camera port without a web token, a Host it does not answer to. */
const FINAL_REFUSALS = [400, 401, 403, 421];

/** A socket closed before it opened: the browser does not say why, so the page asks the server
 * (`/camera/check`, the socket's own checks, within 5 s) and shows its answer. A refusal that
 * waiting cannot end stops the camera; any other answer (a full server, a proxy's error while
 * the server restarts, no answer) is tried again as a lost connection is. */
async function refused(connection) {
  let status = 0;
  let why = '';
  if (run.on) {
    try {
      const answer = await fetch(`/camera/check${connection.query}`, { cache: 'no-store', signal: AbortSignal.timeout(5000) });
      status = answer.status;
      why = answer.ok ? '' : (await answer.text()).slice(0, 300);
    } catch (e) {
      status = 0;
    }
  }
  if (run.socket !== connection) return;
  if (!FINAL_REFUSALS.includes(status)) {
    const wait = run.retry;
    lost(connection);
    if (status >= 300) say(`the server refused the camera (${status}): ${why}; trying again in ${(wait / 1000).toFixed(1)} s`);
    return;
  }
  stop();
  setState('refused');
  say(`the server refused the camera (${status}): ${why}`);
}

async function openCamera() {
  const [width, height] = $('size').value.split('x').map(Number);
  const choice = $('camera').value;
  const constraints = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } };
  if (choice.startsWith('device:')) constraints.deviceId = { exact: choice.slice(7) };
  else constraints.facingMode = { ideal: choice };
  const stream = await navigator.mediaDevices.getUserMedia({ video: constraints, audio: false });
  run.stream = stream;
  video.srcObject = stream;
  await video.play().catch(() => {});
  for (const track of stream.getVideoTracks()) {
    // A camera that goes away (unplugged, taken by another app) is opened again.
    track.addEventListener('ended', () => { if (run.on && run.stream === stream) setTimeout(reopen, 1000); });
  }
  listCameras();
  nextVideoFrame();
}

async function reopen() {
  if (!run.on) return;
  try { await openCamera(); } catch (e) { say(`cannot open the camera again: ${e.message || e}`); setTimeout(reopen, 3000); }
}

/** Adds each camera by name to the choice, once the browser lets the page see their names. */
async function listCameras() {
  const select = $('camera');
  if (select.dataset.listed) return;
  try {
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter(d => d.kind === 'videoinput' && d.label);
    for (const d of devices) {
      const option = document.createElement('option');
      option.value = 'device:' + d.deviceId;
      option.textContent = d.label;
      select.append(option);
    }
    select.dataset.listed = '1';
  } catch (e) { /* the two facing choices stay */ }
}

async function keepAwake() {
  if (!('wakeLock' in navigator)) { body.dataset.wakeLock = 'unsupported'; return; }
  try {
    run.wakeLock = await navigator.wakeLock.request('screen');
    body.dataset.wakeLock = 'held';
    run.wakeLock.addEventListener('release', () => { body.dataset.wakeLock = 'released'; });
  } catch (e) {
    body.dataset.wakeLock = 'refused';
  }
}

async function start() {
  if (run.on) return;
  const name = $('name').value.trim();
  if (name && !/^[A-Za-z0-9_-]{1,64}$/.test(name)) { say('a camera name is 1-64 letters, digits, _ or -'); return; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('this browser gives a camera only to secure pages: open the page over HTTPS ' +
      '(nvt-server --http-tls-cert, docs/camera.md) or on localhost');
    setState('no camera');
    return;
  }
  run.on = true;
  $('start').disabled = true;
  $('stop').disabled = false;
  setState('starting');
  const kiosk = new URL('/camera', location.href);
  if (name) kiosk.searchParams.set('name', name);
  kiosk.searchParams.set('camera', $('camera').value.startsWith('device:') ? 'environment' : $('camera').value);
  kiosk.searchParams.set('size', $('size').value);
  if (params.has('quality')) kiosk.searchParams.set('quality', String(fit.ceiling));
  $('kiosk').href = kiosk.pathname + kiosk.search;
  $('kiosk').textContent = kiosk.pathname + kiosk.search;
  try {
    await openCamera();
  } catch (e) {
    say(`cannot open the camera: ${e.message || e}`);
    stop();
    setState('no camera');
    return;
  }
  keepAwake();
  connect();
}

function stop() {
  run.on = false;
  clearTimeout(run.retryTimer);
  if (run.socket) { const s = run.socket.socket; run.socket = null; s.close(); }
  if (run.stream) for (const track of run.stream.getTracks()) track.stop();
  run.stream = null;
  run.newest = null;
  run.last = null;
  if (run.waiter) run.waiter();
  if (run.wakeLock) run.wakeLock.release().catch(() => {});
  run.wakeLock = null;
  $('start').disabled = false;
  $('stop').disabled = true;
  setState('idle');
}

document.addEventListener('visibilitychange', () => {
  // The browser lets the wake lock go whenever the page is hidden; take it again on return.
  if (run.on && document.visibilityState === 'visible') keepAwake();
});
$('setup').addEventListener('submit', event => { event.preventDefault(); start(); });
$('stop').addEventListener('click', stop);
video.addEventListener('loadedmetadata', () => {
  if (video.videoWidth) $('stage').style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
});
setInterval(showStats, 500);

// A link that names the camera (the kiosk link) starts it at once.
const facing = { back: 'environment', front: 'user', environment: 'environment', user: 'user' }[params.get('camera')];
if (facing) $('camera').value = facing;
if ([...$('size').options].some(o => o.value === params.get('size'))) $('size').value = params.get('size');
// Not when another site opened it (the server says so): then Start must be pressed.
if (params.has('name')) {
  $('name').value = params.get('name');
  if (body.dataset.autostart === 'no') say('this link came from another site: press Start to stream your camera');
  else start();
}
