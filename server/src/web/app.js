// The live page: every second, /api/clients updates each client's card, and /api/status the
// banners above them: detection not happening and why (no workers, no model, a failing model),
// a model reload under way or failed (history.js keeps the event history). Everything a peer or a
// model provides (addresses, model ids, labels) is set as text, never parsed as HTML, and the
// page's Content-Security-Policy allows no inline script.
'use strict';

const cards = new Map();
const fmt = (v, d = 1) => Number(v).toFixed(d);

/** An element with a class and, optionally, text. */
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Marks a stream image once its first frame has shown (the browser test waits on it). */
function watchImage(img) {
  const mark = () => { img.dataset.loaded = '1'; };
  if (img.complete && img.naturalWidth > 0) mark();
  img.addEventListener('load', mark);
}

/** A new client's card, from the page's one card template (the server fills the same template
 * for the clients it lists in the page itself). The clone is inert until it is appended, so the
 * image asks for its stream only once its address is set. */
function card(id) {
  const section = el('section', 'card');
  section.id = 'client-' + id;
  section.dataset.id = String(id);
  const content = document.getElementById('card-template').content.cloneNode(true);
  const img = content.querySelector('img');
  img.src = '/stream/' + encodeURIComponent(id);
  watchImage(img);
  section.append(content);
  return section;
}

/** The detection states that mean no detections, with their title. */
const TROUBLE = {
  no_workers: 'No detection: no workers.',
  no_model: 'No detection: no model.',
  model_failed: 'No detection: the model fails.',
  failing: 'No detection.',
};

/** Fills a banner with a bold title and the reason, as text; hides it when there is no title. */
function banner(node, title, reason, state) {
  node.hidden = !title;
  node.dataset.state = state || '';
  if (title) node.replaceChildren(el('b', null, title), document.createTextNode(reason || ''));
  else node.replaceChildren();
}

/** Shows whether a client's frames get detections, and why not. */
function showDetection(node, detection) {
  const state = detection ? detection.state : '';
  banner(node, TROUBLE[state], detection && detection.reason, state);
}

/** The banners above the cards: the server's detection state and the model loader's news. */
async function refreshStatus() {
  let status;
  try {
    status = await (await fetch('/api/status', { cache: 'no-store' })).json();
  } catch (e) {
    return;
  }
  const alerts = [];
  const detection = status.detection || {};
  if (TROUBLE[detection.state]) {
    const node = el('div', 'banner');
    node.id = 'detection-alert';
    banner(node, TROUBLE[detection.state], detection.reason, detection.state);
    alerts.push(node);
  }
  const model = status.model;
  if (model && (model.state === 'failed' || model.state === 'loading')) {
    const node = el('div', 'banner' + (model.state === 'loading' ? ' busy' : ''));
    node.id = 'model-alert';
    if (model.state === 'failed') {
      banner(node, 'Model reload failed.', `${model.file}: ${model.error} · still serving ${model.serving}`, 'failed');
    } else {
      banner(node, 'Loading a model…', model.file, 'loading');
    }
    alerts.push(node);
  }
  document.getElementById('alerts').replaceChildren(...alerts);
}

function chips(detections) {
  if (!detections.length) return [el('span', 'chip', 'nothing detected')];
  return detections.map(d => {
    const chip = el('span', 'chip', d.track_id === undefined ? d.label : `${d.label} #${d.track_id}`);
    chip.append(el('i', null, fmt(d.score, 2)));
    return chip;
  });
}

// Cards the server rendered into the page already stream; adopt them.
for (const section of document.querySelectorAll('section.card')) {
  cards.set(Number(section.dataset.id), section);
  for (const img of section.querySelectorAll('img')) watchImage(img);
}

async function refresh() {
  let list;
  try {
    list = await (await fetch('/api/clients', { cache: 'no-store' })).json();
  } catch (e) {
    document.getElementById('summary').textContent = 'server unreachable';
    return;
  }
  await refreshStatus();
  const root = document.getElementById('clients');
  const seen = new Set();
  for (const c of list) {
    const id = Number(c.id);
    seen.add(id);
    if (!cards.has(id)) {
      if (cards.size === 0) root.replaceChildren();
      const section = card(id);
      cards.set(id, section);
      root.append(section);
    }
    const section = cards.get(id);
    section.querySelector('.peer').textContent = `${c.camera} · ${c.peer}`;
    section.querySelector('.model').textContent = c.model || 'no model';
    section.querySelector('.fps-in').textContent = fmt(c.fps_in);
    section.querySelector('.fps-processed').textContent = fmt(c.fps_processed);
    section.querySelector('.latency').textContent = `${fmt(c.latency_ms_p50)} / ${fmt(c.latency_ms_p95)} ms`;
    section.querySelector('.dropped').textContent = `${c.stale} / ${c.dropped}`;
    section.dataset.processed = c.frames_processed;
    if (!section.dataset.firstProcessed) section.dataset.firstProcessed = c.frames_processed;
    section.querySelector('.dets').replaceChildren(...chips(c.detections));
    showDetection(section.querySelector('.detection'), c.detection);
  }
  for (const [id, section] of cards) {
    if (!seen.has(id)) { section.remove(); cards.delete(id); }
  }
  if (cards.size === 0) root.replaceChildren(el('div', 'empty', 'No client is streaming yet.'));
  const total = list.reduce((n, c) => n + c.fps_processed, 0);
  document.getElementById('summary').textContent =
    `${list.length} client${list.length === 1 ? '' : 's'} · ${fmt(total)} frames/s processed`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
}

refresh();
setInterval(refresh, 1000);
