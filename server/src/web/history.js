// The event history: /api/events, newest first, filtered by camera, label and time, twenty at a
// time (older pages ask for events that started before the last one shown, as Frigate's own page
// does), each with its thumbnail; the first page follows new events by itself. A clip plays in
// the page's own player: browsers do not play AVI, so it reads the clip's JPEG frames from the
// file and draws them on a canvas at the clip's rate. Each event has one card, kept from its
// start to its end and updated in place as the event changes (never one card per update). Names from cameras and models are set as
// text, never parsed as HTML.
'use strict';
(() => {
  const PAGE = 20;
  const state = { before: null, newer: [], rows: [] };
  /** The card of each event shown, by event id. */
  const cards = new Map();
  const $ = id => document.getElementById(id);

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  /** Unix seconds from a datetime-local field, or null. */
  function seconds(input) {
    const t = input.value ? new Date(input.value).getTime() : NaN;
    return Number.isFinite(t) ? t / 1000 : null;
  }

  function queryString() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    const camera = $('filter-camera').value.trim();
    const label = $('filter-label').value.trim();
    if (camera) q.set('cameras', camera);
    if (label) q.set('labels', label);
    const after = seconds($('filter-after'));
    if (after !== null) q.set('after', String(after));
    const before = [seconds($('filter-before')), state.before].filter(v => v !== null);
    if (before.length) q.set('before', String(Math.min(...before)));
    return q.toString();
  }

  /** Remembers names for the filters' suggestions. */
  function suggest(listId, value) {
    const list = $(listId);
    if ([...list.options].some(o => o.value === value)) return;
    const option = document.createElement('option');
    option.value = value;
    list.append(option);
  }

  /** The event's card: the one it has, updated, or a new one. */
  function item(row) {
    let li = cards.get(row.id);
    if (!li) {
      li = node('li', 'event');
      li.dataset.id = row.id;
      const img = node('img');
      img.alt = 'thumbnail';
      img.dataset.loaded = '0';
      img.addEventListener('load', () => { img.dataset.loaded = '1'; });
      img.addEventListener('error', () => { img.classList.add('missing'); });
      img.src = '/api/events/' + encodeURIComponent(row.id) + '/thumbnail.jpg';
      li.append(img, node('div', 'what'));
      cards.set(row.id, li);
    }
    fill(li, row);
    suggest('known-cameras', row.camera);
    suggest('known-labels', row.label);
    return li;
  }

  /** Writes what a card says, when the event has changed since. */
  function fill(li, row) {
    const ended = row.end_time !== null;
    const score = Number(row.data && row.data.top_score || 0).toFixed(2);
    const key = `${row.end_time} ${row.has_clip} ${score}`;
    if (li.dataset.key === key) return;
    li.dataset.key = key;
    li.dataset.updates = String(Number(li.dataset.updates || 0) + 1);
    li.className = 'event ' + (ended ? 'ended' : 'in-progress');
    const what = node('div', 'what');
    what.append(node('b', null, row.label), node('span', 'kind', ended ? 'ended' : 'in view'));
    const start = new Date(row.start_time * 1000);
    const length = ended ? `${(row.end_time - row.start_time).toFixed(1)} s` : 'in view now';
    what.append(node('small', null, `${row.camera} · ${start.toLocaleString()} · ${length} · best ${score}`));
    if (row.has_clip) {
      const play = node('button', 'clip', 'Play clip');
      play.type = 'button';
      play.addEventListener('click', () => player.open(row));
      what.append(play);
    }
    li.querySelector('.what').replaceWith(what);
  }

  async function load() {
    let rows;
    try {
      const answer = await fetch('/api/events?' + queryString(), { cache: 'no-store' });
      if (!answer.ok) {
        $('page-info').textContent = (await answer.text()).trim();
        return;
      }
      rows = await answer.json();
    } catch (e) {
      return;
    }
    state.rows = rows;
    const list = $('event-list');
    const items = rows.map(item);
    const ids = new Set(rows.map(r => r.id));
    for (const id of [...cards.keys()]) if (!ids.has(id)) cards.delete(id);
    const same = items.length === list.children.length && items.every((li, i) => list.children[i] === li);
    if (!same) list.replaceChildren(...(items.length ? items : [node('li', 'none', 'No events.')]));
    $('page-older').disabled = rows.length < PAGE;
    $('page-newer').disabled = state.newer.length === 0;
    $('page-info').textContent = rows.length ? `${state.newer.length * PAGE + 1}–${state.newer.length * PAGE + rows.length}` : '';
    document.body.dataset.events = String(rows.length);
  }

  $('history-filter').addEventListener('submit', e => {
    e.preventDefault();
    state.before = null;
    state.newer = [];
    load();
  });
  $('page-older').addEventListener('click', () => {
    if (!state.rows.length) return;
    state.newer.push(state.before);
    state.before = state.rows[state.rows.length - 1].start_time;
    load();
  });
  $('page-newer').addEventListener('click', () => {
    if (!state.newer.length) return;
    state.before = state.newer.pop();
    load();
  });

  /** The frames of an AVI clip as nvt writes it (MJPEG, idx1), and its rate. */
  function aviFrames(buffer) {
    const view = new DataView(buffer);
    const tag = at => String.fromCharCode(...new Uint8Array(buffer, at, 4));
    if (buffer.byteLength < 224 || tag(0) !== 'RIFF' || tag(8) !== 'AVI ' || tag(212) !== 'LIST') {
      throw new Error('not a clip');
    }
    const rate = view.getUint32(132, true) / Math.max(1, view.getUint32(128, true));
    const end = Math.min(220 + view.getUint32(216, true), buffer.byteLength);
    const frames = [];
    let at = 224;
    while (at + 8 <= end) {
      const size = view.getUint32(at + 4, true);
      if (at + 8 + size > buffer.byteLength) break;
      if (tag(at) === '00dc') frames.push(new Blob([new Uint8Array(buffer, at + 8, size)], { type: 'image/jpeg' }));
      at += 8 + size + (size % 2);
    }
    return { frames, rate: rate > 0 ? rate : 10 };
  }

  const player = {
    frames: [], rate: 10, at: 0, playing: false, timer: null, token: 0,

    async open(row) {
      const dialog = $('player');
      const url = '/api/events/' + encodeURIComponent(row.id) + '/clip.avi';
      this.stop();
      this.frames = [];
      const token = ++this.token;
      $('player-title').textContent = `${row.label} · ${row.camera} · ${new Date(row.start_time * 1000).toLocaleString()}`;
      $('player-download').href = url;
      $('player-time').textContent = 'loading…';
      dialog.dataset.frames = '0';
      dialog.dataset.shown = '0';
      if (!dialog.open) dialog.showModal();
      try {
        const answer = await fetch(url, { cache: 'no-store' });
        if (!answer.ok) throw new Error(`the clip is not there (${answer.status})`);
        const clip = aviFrames(await answer.arrayBuffer());
        if (token !== this.token) return;
        this.frames = clip.frames;
        this.rate = clip.rate;
      } catch (e) {
        $('player-time').textContent = String(e.message || e);
        return;
      }
      dialog.dataset.frames = String(this.frames.length);
      $('player-seek').max = String(Math.max(0, this.frames.length - 1));
      this.at = 0;
      this.play();
    },

    async show(index) {
      const blob = this.frames[index];
      if (!blob) return;
      try {
        const bitmap = await createImageBitmap(blob);
        const canvas = $('player-canvas');
        if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
          canvas.width = bitmap.width;
          canvas.height = bitmap.height;
        }
        canvas.getContext('2d').drawImage(bitmap, 0, 0);
        bitmap.close();
      } catch (e) {
        // A frame the browser cannot decode is skipped.
      }
      $('player-seek').value = String(index);
      $('player-time').textContent = `${(index / this.rate).toFixed(1)} / ${(this.frames.length / this.rate).toFixed(1)} s`;
      const dialog = $('player');
      dialog.dataset.shown = String(Math.max(Number(dialog.dataset.shown), index + 1));
    },

    play() {
      this.playing = true;
      $('player-play').textContent = 'Pause';
      const step = async () => {
        if (!this.playing) return;
        await this.show(this.at);
        this.at += 1;
        if (this.at >= this.frames.length) {
          this.at = 0;
          this.pause();
          return;
        }
        this.timer = setTimeout(step, 1000 / this.rate);
      };
      step();
    },

    pause() {
      this.playing = false;
      clearTimeout(this.timer);
      $('player-play').textContent = 'Play';
    },

    stop() {
      this.pause();
      this.token += 1;
    },
  };

  $('player-play').addEventListener('click', () => (player.playing ? player.pause() : player.play()));
  $('player-seek').addEventListener('input', e => {
    player.pause();
    player.at = Number(e.target.value);
    player.show(player.at);
  });
  $('player-close').addEventListener('click', () => {
    player.stop();
    $('player').close();
  });

  load();
  // The first page follows new events; older pages stay as they are.
  setInterval(() => { if (state.before === null) load(); }, 2000);
})();
