// procman's dashboard (docs/dashboard.md): a client of /api/v1 with the
// token the user signs in with. Everything that comes from the server is
// put into the page as text (el(), textContent), never parsed as HTML; the
// server's Content-Security-Policy runs this file and nothing else.
'use strict';

(() => {
  const API = '/api/v1';
  const STATES = ['queued', 'held', 'running', 'interrupted', 'finished',
    'error', 'cancelled'];
  const TERMINAL = new Set(['finished', 'error', 'cancelled']);
  const POLL_MS = 2000;      // a page's refresh without the event stream
  const RETRY_MS = 1000;     // the first wait before reconnecting; doubles
  const RETRY_MAX_MS = 8000; // to at most this
  const PAGE_SIZE = 50;      // processes per page
  const COUNT_CAP = 1000;    // the API's largest page: ended processes the chart reads per state
  const EVENTS_KEPT = 200;   // transitions the overview keeps
  const TOKEN_KEY = 'procman.token';

  const $ = (id) => document.getElementById(id);

  /// An element; strings among `kids` become text nodes, never HTML.
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'data') Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }

  /// A selector that finds `e` again once its part is drawn anew.
  function focusKey(e) {
    if (e.id) return '#' + CSS.escape(e.id);
    for (const a of ['href', 'aria-label']) {
      const v = e.getAttribute(a);
      if (v) return e.tagName.toLowerCase() + '[' + a + '="' + CSS.escape(v) + '"]';
    }
    return null;
  }

  /// Replaces what `node` shows; the focus stays on the control it was on
  /// (a refresh must not throw a keyboard user back to the top).
  function fill(node, ...kids) {
    const active = document.activeElement;
    const key = active && active !== node && node.contains(active) ? focusKey(active) : null;
    node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
    if (key) {
      const again = node.querySelector(key);
      if (again) again.focus();
    }
    return node;
  }

  // -- time ------------------------------------------------------------------

  /// Unix ms of a procman timestamp (YYYYMMDDHHMMSS, UTC) or an ISO one.
  function parseTime(x) {
    if (typeof x !== 'string' || x === '') return null;
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(x);
    if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    const t = Date.parse(x);
    return Number.isNaN(t) ? null : t;
  }

  function span(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  /// A step's duration: milliseconds under a second, tenths under a minute.
  function took(ms) {
    if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
    if (ms < 60e3) return (ms / 1000).toFixed(1) + ' s';
    return span(ms);
  }

  /// How long a step ran (its status JSON's step_times entry): ended, or
  /// so far while it runs; null before it started or where the server
  /// keeps no times.
  function stepTook(t, state) {
    if (!t || t.started_ms === null || t.started_ms === undefined) return null;
    if (t.duration_ms !== null && t.duration_ms !== undefined) {
      return { ms: t.duration_ms, text: took(t.duration_ms) };
    }
    if (state !== 'running') return null;
    const ms = Math.max(0, Date.now() - t.started_ms);
    return { ms, text: took(ms) + ' so far' };
  }

  /// A <time> showing how long ago `x` was, with the date as its title.
  function when(x) {
    const t = parseTime(x);
    if (t === null) return el('span', { class: 'muted', text: '–' });
    const iso = new Date(t).toISOString().replace('.000Z', 'Z');
    const ago = Date.now() - t;
    return el('time', { datetime: iso, title: iso,
      text: ago >= 0 ? span(ago) + ' ago' : 'in ' + span(-ago) });
  }

  // -- the session -------------------------------------------------------------

  const S = {
    token: sessionStorage.getItem(TOKEN_KEY),
    me: null,
    routes: new Set(),   // "get /processes", from the server's openapi.json
    params: new Map(),   // "get /processes" -> its query parameter names
    page: null,          // the page shown: {refresh, onEvent, stop}
    refreshing: null,    // the page whose refresh runs
    reads: new AbortController(), // aborts the reads of the page shown
    again: false,
    poller: null,
    stream: null,        // the event stream's AbortController
    lastEventId: null,
    events: [],          // transitions received, oldest first, each once
    seen: new Set(),     // their sequence numbers
    received: 0,         // transitions received (each once)
    mode: '',
  };

  const has = (method, path) => S.routes.has(method + ' ' + path);
  const canOperate = () => S.me && (S.me.scope === 'operate' || S.me.scope === 'admin');

  class ApiError extends Error {
    constructor(status, doc, message) {
      super(message);
      this.status = status;
      this.doc = doc;
    }
  }

  /// The text of a request with the token; a refused token signs out, any
  /// other failure is an ApiError naming the request.
  async function send(method, url, body, accept) {
    const headers = { Authorization: 'Bearer ' + S.token, Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(url, {
        method, headers, cache: 'no-store',
        // A read of a page left behind is dropped; a change never is.
        signal: method === 'get' ? S.reads.signal : undefined,
        body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
      });
    } catch (e) {
      if (e.name === 'AbortError') throw new ApiError(-1, null, 'left behind');
      setOnline(false);
      throw new ApiError(0, null, 'the server cannot be reached');
    }
    setOnline(true);
    const text = await res.text();
    let doc = null;
    try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
    const detail = doc && typeof doc.detail === 'string' ? doc.detail : '';
    if (res.status === 401) {
      signOut('The server refused this token (wrong, or revoked): ' + detail);
      throw new ApiError(401, doc, detail);
    }
    if (!res.ok) {
      throw new ApiError(res.status, doc,
        detail || `${method.toUpperCase()} ${url}: HTTP ${res.status}`);
    }
    return text;
  }

  async function api(method, path, body) {
    const text = await send(method, API + path, body, 'application/json');
    try { return text ? JSON.parse(text) : null; } catch (e) {
      throw new ApiError(200, null, `${method.toUpperCase()} ${path}: not JSON`);
    }
  }

  /// The samples of /metrics (Prometheus text format) by name: a list of
  /// {labels, value} each.
  async function metrics() {
    const out = new Map();
    const text = await send('get', '/metrics', undefined, 'text/plain');
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const l of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
      if (!out.has(m[1])) out.set(m[1], []);
      out.get(m[1]).push({ labels, value: Number(m[3]) });
    }
    return out;
  }

  /// The sum of the samples `name` (those with `label` = `value`, if
  /// given); null where /metrics has none.
  function sample(m, name, label, value) {
    const found = (m.get(name) || []).filter((x) => !label || x.labels[label] === value);
    return found.length ? found.reduce((sum, x) => sum + x.value, 0) : null;
  }

  function setOnline(up) {
    const b = $('banner');
    if (up) {
      if (b.dataset.kind === 'offline') { b.hidden = true; b.dataset.kind = ''; }
    } else {
      b.dataset.kind = 'offline';
      b.textContent = 'The server cannot be reached; retrying.';
      b.hidden = false;
    }
    document.body.dataset.online = up ? 'yes' : 'no';
  }

  function setLive(mode) {
    S.mode = mode;
    $('live').textContent = {
      events: 'live',
      polling: 'polling every ' + POLL_MS / 1000 + ' s',
      reconnecting: 'reconnecting',
    }[mode] || '';
    $('live').dataset.mode = mode;
  }

  async function signIn(token) {
    S.token = token;
    let me;
    try {
      me = await api('get', '/whoami');
    } catch (e) {
      if (e.status === 401) return; // signOut has said so
      if (e.status === 404) {
        // A server before /whoami: show no button that could be refused.
        me = { scope: 'read', name: '', id: '' };
      } else {
        S.token = null;
        return showSignin(e.status === 0 ? 'The server cannot be reached.' : e.message);
      }
    }
    S.me = me;
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      const doc = await api('get', '/openapi.json');
      S.routes.clear();
      S.params.clear();
      for (const [path, ops] of Object.entries(doc.paths || {})) {
        for (const [method, op] of Object.entries(ops)) {
          S.routes.add(method + ' ' + path);
          S.params.set(method + ' ' + path,
            new Set((op.parameters || []).map((p) => p.name)));
        }
      }
    } catch (e) {
      if (!S.token) return;
    }
    $('signin').hidden = true;
    $('nav').hidden = false;
    $('who').hidden = false;
    $('whoami').textContent = (me.name || me.id || 'token') + ' · ' + me.scope;
    document.body.dataset.scope = me.scope;
    startLive();
    route();
  }

  function signOut(message) {
    stopLive();
    if (S.page && S.page.stop) S.page.stop();
    S.page = null;
    S.token = null;
    S.me = null;
    sessionStorage.removeItem(TOKEN_KEY);
    delete document.body.dataset.scope;
    showSignin(message || '');
  }

  function showSignin(message) {
    $('nav').hidden = true;
    $('who').hidden = true;
    fill($('page'));
    $('signin').hidden = false;
    $('signin-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  // -- live updates: the event stream, or polling --------------------------------

  function startLive() {
    stopLive();
    if (has('get', '/events')) streamEvents();
    else startPolling();
  }

  function stopLive() {
    if (S.stream) S.stream.abort();
    S.stream = null;
    if (S.poller) clearInterval(S.poller);
    S.poller = null;
  }

  function startPolling() {
    setLive('polling');
    if (!S.poller) S.poller = setInterval(refresh, POLL_MS);
  }

  /// Reads /events with fetch (an EventSource cannot send the token) and
  /// parses server-sent events; reconnects with Last-Event-ID, so that a
  /// dropped connection or a restarted server loses and repeats nothing.
  async function streamEvents() {
    const ctl = new AbortController();
    S.stream = ctl;
    let wait = RETRY_MS;
    while (S.stream === ctl) {
      try {
        const headers = { Authorization: 'Bearer ' + S.token, Accept: 'text/event-stream' };
        if (S.lastEventId !== null) headers['Last-Event-ID'] = S.lastEventId;
        const res = await fetch(API + '/events', { headers, signal: ctl.signal, cache: 'no-store' });
        setOnline(true);
        if (res.status === 401) return signOut('The server refused this token (wrong, or revoked).');
        if (res.status === 404) { S.stream = null; return startPolling(); }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        setLive('events');
        wait = RETRY_MS;
        refresh(); // what changed while the stream was down
        await readEvents(res.body, ctl);
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e instanceof TypeError) setOnline(false);
      }
      if (S.stream !== ctl) return;
      setLive('reconnecting');
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }

  async function readEvents(body, ctl) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { id: null, event: 'message', data: [] };
    while (S.stream === ctl) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (ev.data.length) dispatch(ev);
          ev = { id: null, event: 'message', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // a comment: keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'data') ev.data.push(val);
        else if (field === 'event') ev.event = val;
        else if (field === 'id') ev.id = val;
      }
    }
  }

  function dispatch(ev) {
    if (ev.id !== null) S.lastEventId = ev.id;
    if (ev.event !== 'transition') return;
    let d;
    try { d = JSON.parse(ev.data.join('\n')); } catch (e) { return; }
    const seq = Number(d.seq !== undefined ? d.seq : ev.id);
    if (S.seen.has(seq)) return; // never shown twice
    S.seen.add(seq);
    S.events.push(d);
    if (S.events.length > EVENTS_KEPT) S.seen.delete(Number(S.events.shift().seq));
    S.received++;
    document.body.dataset.events = String(S.received);
    if (S.page && S.page.onEvent) S.page.onEvent(d);
    refreshSoon();
  }

  /// A refresh shortly after a transition: one for a burst of them, and on
  /// the pages that read many processes (overview, queue) at most one per
  /// POLL_MS however busy the store is.
  let soon = null;
  function refreshSoon() {
    if (soon) return;
    const wait = S.page && S.page.heavy ? POLL_MS : 200;
    soon = setTimeout(() => { soon = null; refresh(); }, wait);
  }

  /// Refreshes the page shown; one refresh of a page at a time, the last
  /// asked for runs after the one running. A page left behind does not
  /// hold up the next: what it still draws goes to its detached elements.
  async function refresh() {
    const page = S.page;
    if (!page || !page.refresh) return;
    if (S.refreshing === page) { S.again = true; return; }
    S.refreshing = page;
    S.again = false;
    try {
      await page.refresh();
    } catch (e) {
      if (e.status > 0 && e.status !== 401 && S.page === page && page.error) page.error(e);
    } finally {
      if (S.refreshing === page) {
        S.refreshing = null;
        if (S.again && S.page === page) { S.again = false; refresh(); }
      }
    }
  }

  // -- small parts -----------------------------------------------------------------

  const badge = (status) => el('span', { class: 'badge s-' + status, data: { status }, text: status });
  const pidLink = (pid) => el('a', { class: 'pid', href: '#/process/' + encodeURIComponent(pid), text: pid });
  const notAvailable = (what) => el('p', { class: 'na', role: 'note',
    text: 'Not available: this server does not serve ' + what + ' yet.' });

  function section(title, ...kids) {
    return el('section', { class: 'card' }, el('h2', { text: title }), ...kids);
  }

  /// A table of rows; `cols` are [heading, row => cell content].
  function table(cols, rows, empty) {
    if (!rows.length) return el('p', { class: 'muted', text: empty || 'None.' });
    return el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, cols.map(([h]) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, rows.map((r) => el('tr', {}, cols.map(([, f]) => el('td', {}, f(r))))))));
  }

  const asText = (v) => (v === null || v === undefined) ? ''
    : typeof v === 'object' ? JSON.stringify(v) : String(v);

  /// Any JSON as a definition list (what a route gives that the page does
  /// not know field by field).
  function anyJson(doc) {
    if (Array.isArray(doc)) return generic(doc);
    if (doc === null || typeof doc !== 'object') return el('p', { text: asText(doc) });
    return el('dl', { class: 'kv' }, Object.entries(doc).map(([k, v]) => [
      el('dt', { text: k }),
      el('dd', {}, Array.isArray(v) && v.length && typeof v[0] === 'object' ? generic(v)
        : el('span', { text: asText(v) }))]));
  }

  function generic(rows) {
    const keys = [];
    for (const r of rows) for (const k of Object.keys(r || {})) if (!keys.includes(k)) keys.push(k);
    return table(keys.map((k) => [k, (r) => k === 'pid' && typeof r[k] === 'string' ? pidLink(r[k]) : asText(r[k])]), rows);
  }

  /// Checks a JSON object typed by the user; the message names the problem.
  function checkObject(text) {
    let v;
    try { v = JSON.parse(text); } catch (e) { return { error: 'Not JSON: ' + e.message }; }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'It must be a JSON object ({...}).' };
    return { value: v };
  }

  /// A <textarea> whose JSON object is checked as it is typed; `button`
  /// is enabled only when it is one.
  function jsonField(id, label, initial, button) {
    const msg = el('p', { class: 'error', id: id + '-check', role: 'status' });
    const area = el('textarea', { id, rows: 4, spellcheck: 'false', 'aria-describedby': id + '-check' });
    area.value = initial;
    const check = () => {
      const r = checkObject(area.value);
      msg.textContent = r.error || '';
      area.setAttribute('aria-invalid', r.error ? 'true' : 'false');
      button.disabled = Boolean(r.error);
      return r;
    };
    area.addEventListener('input', check);
    check();
    return { node: el('div', { class: 'field' }, el('label', { for: id, text: label }), area, msg), check, area };
  }

  async function processesOf(status, limit) {
    const doc = await api('get', '/processes?status=' + status + '&limit=' + limit);
    return doc.items || [];
  }

  // -- overview --------------------------------------------------------------------

  function overview(root) {
    const counts = el('div', { class: 'counts', id: 'counts' });
    const chart = el('canvas', { id: 'throughput', class: 'chart', role: 'img',
      'aria-label': 'Processes finished and failed per minute over the last hour' });
    const chartText = el('p', { class: 'muted', id: 'throughput-text' });
    const queue = el('div', { id: 'queue-summary' });
    const slots = el('div', { id: 'slots' });
    const nodes = el('div');
    const events = el('div');
    fill(root, el('h1', { text: 'Overview' }),
      section('Processes by state', counts),
      section('Throughput, last hour', chart, chartText),
      section('Queue', queue),
      section('Slots', slots),
      section('Nodes', nodes),
      section('Recent transitions', events));
    let last = null;
    const drawEvents = () => fill(events, has('get', '/events')
      ? table([['seq', (e) => asText(e.seq)], ['time', (e) => when(e.time)],
        ['process', (e) => pidLink(e.pid)], ['event', (e) => asText(e.event)],
        ['status', (e) => badge(e.status)]], S.events.slice(-20).reverse(), 'None since this page opened.')
      : notAvailable('the event stream (/events); the pages poll instead'));
    const page = {
      async refresh() {
        // The counts are the store's own (/metrics, /queue): no process is
        // listed for them. The chart reads the newest processes that ended.
        const [m, q, ended] = await Promise.all([
          has('get', '/metrics') ? metrics() : null,
          has('get', '/queue') ? api('get', '/queue') : null,
          Promise.all(['finished', 'error', 'cancelled'].map((s) => processesOf(s, COUNT_CAP)))]);
        if (m) {
          fill(counts, STATES.filter((s) => sample(m, 'procman_processes', 'state', s) !== null).map((s) =>
            el('a', { class: 'count s-' + s, href: '#/processes?status=' + s, data: { state: s } },
              el('span', { class: 'n', text: String(sample(m, 'procman_processes', 'state', s)) }),
              el('span', { class: 'label', text: s }))));
        } else {
          fill(counts, notAvailable('the counts by state (/metrics)'));
        }
        last = throughput(ended.flat());
        drawChart(chart, last.buckets);
        const capped = ended.some((l) => l.length >= COUNT_CAP);
        chartText.textContent = `${last.ok} finished, ${last.failed} failed or cancelled in the last hour` +
          (last.p50 === null ? '' : `; enqueue to end: median ${span(last.p50)}, 95th percentile ${span(last.p95)}`) +
          (capped ? ' (of the newest ' + COUNT_CAP + ' per state)' : '') + '.';
        fill(queue, q ? queueSummary(q) : notAvailable('the queue (/queue)'));
        drawSlots(slots, m);
        if (has('get', '/nodes')) {
          const doc = await api('get', '/nodes');
          const rows = Array.isArray(doc) ? doc : (doc.items || doc.nodes || []);
          fill(nodes, el('p', { class: 'big', text: rows.length + ' node' + (rows.length === 1 ? '' : 's') }));
        } else {
          fill(nodes, notAvailable('the nodes (/nodes)'));
        }
        drawEvents();
      },
      onEvent: drawEvents,
      heavy: true,
      resize() { if (last) drawChart(chart, last.buckets); },
    };
    return page;
  }

  /// The queue's depths and oldest wait (GET /queue), each under an id.
  function queueSummary(q) {
    const row = (id, k, v) => [el('dt', { text: k }), el('dd', { id, text: v })];
    return el('dl', { class: 'kv' },
      row('queue-depth', 'depth (due)', asText(q.queued)),
      row('queue-delayed-n', 'delayed', asText(q.delayed)),
      row('queue-held-n', 'held', asText(q.held)),
      row('queue-running-n', 'running', asText(q.running)),
      row('queue-interrupted-n', 'paused', asText(q.interrupted)),
      row('queue-oldest', 'oldest wait', q.queued ? took(q.oldest_wait_ms) : '–'),
      [el('dt', { text: 'next due' }), el('dd', {}, q.next_due ? when(q.next_due) : '–')]);
  }

  /// Busy slots from the runner's gauges on /metrics; a server that runs no
  /// processes (procman web) has none and says so.
  function drawSlots(node, m) {
    const total = m ? sample(m, 'procman_slots') : null;
    const busy = m ? sample(m, 'procman_slots_busy') : null;
    if (total === null || busy === null) {
      fill(node, el('p', { class: 'muted', id: 'slots-none', data: { slots: 'none' },
        text: 'No runner in this server: it runs no processes, so it has no slots to show ' +
          '(a runner started with --http shows its own).' }));
      return;
    }
    fill(node, el('p', { class: 'big', data: { busy: String(busy), total: String(total) } },
      'busy slots: ', el('span', { id: 'slots-busy', text: String(busy) }),
      ' of ', el('span', { id: 'slots-total', text: String(total) })),
    el('meter', { min: 0, max: Math.max(1, total), value: busy, 'aria-label': 'busy slots' }));
  }

  /// Per-minute counts of the last hour, and the enqueue-to-end latency.
  function throughput(done) {
    const now = Date.now();
    const buckets = Array.from({ length: 60 }, () => ({ ok: 0, failed: 0 }));
    const lat = [];
    let ok = 0; let failed = 0;
    for (const p of done) {
      const end = parseTime(p.finished_at);
      if (end === null || now - end >= 3600e3 || end > now + 60e3) continue;
      const b = buckets[Math.min(59, 59 - Math.floor((now - end) / 60e3))];
      if (p.status === 'finished') { b.ok++; ok++; } else { b.failed++; failed++; }
      const start = parseTime(p.created_at);
      if (start !== null) lat.push(end - start);
    }
    lat.sort((a, b) => a - b);
    const q = (f) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] : null;
    return { buckets, ok, failed, p50: q(0.5), p95: q(0.95) };
  }

  function drawChart(canvas, buckets) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300;
    const h = canvas.clientHeight || 160;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext('2d');
    g.scale(dpr, dpr);
    const cs = getComputedStyle(canvas);
    const color = (name) => cs.getPropertyValue(name).trim() || '#888';
    const max = Math.max(1, ...buckets.map((b) => b.ok + b.failed));
    const left = 32; const bottom = 18; const top = 6;
    const plotH = h - bottom - top;
    const bw = (w - left) / buckets.length;
    g.clearRect(0, 0, w, h);
    g.fillStyle = color('--muted');
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'top';
    g.fillText(String(max), 2, top);
    g.textBaseline = 'alphabetic';
    g.fillText('0', 2, h - bottom);
    g.fillText('−60 min', left, h - 4);
    const nowText = 'now';
    g.fillText(nowText, w - g.measureText(nowText).width - 2, h - 4);
    g.strokeStyle = color('--line');
    g.beginPath();
    g.moveTo(left, h - bottom + 0.5);
    g.lineTo(w, h - bottom + 0.5);
    g.stroke();
    buckets.forEach((b, i) => {
      const x = left + i * bw + 1;
      const okH = (b.ok / max) * plotH;
      const badH = (b.failed / max) * plotH;
      g.fillStyle = color('--ok');
      g.fillRect(x, h - bottom - okH, Math.max(1, bw - 2), okH);
      g.fillStyle = color('--bad');
      g.fillRect(x, h - bottom - okH - badH, Math.max(1, bw - 2), badH);
    });
  }

  // -- processes ---------------------------------------------------------------------

  const listState = { status: '', key: '', text: '', cursors: [''] };

  function processes(root, query) {
    const q = new URLSearchParams(query || '');
    if (q.has('status')) { listState.status = q.get('status'); listState.cursors = ['']; }
    const params = S.params.get('get /processes') || new Set();
    const serverKey = params.has('key');
    const paging = params.has('cursor');
    const status = el('select', { id: 'f-status', name: 'status' },
      el('option', { value: '', text: 'any state' }),
      STATES.map((s) => el('option', { value: s, text: s })));
    status.value = listState.status;
    const key = el('input', { id: 'f-key', name: 'key', type: 'search', autocomplete: 'off' });
    key.value = listState.key;
    const text = el('input', { id: 'f-text', name: 'text', type: 'search', autocomplete: 'off' });
    text.value = listState.text;
    const body = el('div', { id: 'process-list' });
    const info = el('p', { class: 'muted', id: 'list-info', role: 'status' });
    const older = el('button', { type: 'button', id: 'older', text: 'Older →' });
    const newer = el('button', { type: 'button', id: 'newer', text: '← Newer' });
    let next = null;
    const form = el('form', { class: 'filters', role: 'search' },
      el('label', { for: 'f-status', text: 'State' }), status,
      el('label', { for: 'f-key', text: 'Key' }), key,
      el('label', { for: 'f-text', text: 'Text' }), text,
      el('button', { type: 'submit', text: 'Filter' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      listState.status = status.value;
      listState.key = key.value.trim();
      listState.text = text.value.trim();
      listState.cursors = [''];
      refresh();
    });
    text.addEventListener('input', () => { listState.text = text.value.trim(); show(); });
    older.addEventListener('click', () => { if (next) { listState.cursors.push(next); refresh(); } });
    newer.addEventListener('click', () => { if (listState.cursors.length > 1) { listState.cursors.pop(); refresh(); } });
    fill(root, el('h1', { text: 'Processes' }), form, info, body,
      el('div', { class: 'pager' }, newer, older));
    let items = [];
    const show = () => {
      const needle = listState.text.toLowerCase();
      const shown = items.filter((p) => (serverKey || !listState.key || p.key === listState.key) &&
        (!needle || [p.pid, p.key, p.status, p.schedule, p.error && p.error.message,
          ...Object.keys(p.steps || {})].some((x) => typeof x === 'string' && x.toLowerCase().includes(needle))));
      fill(body, table([
        ['process', (p) => pidLink(p.pid)],
        ['state', (p) => badge(p.status)],
        ['key', (p) => asText(p.key)],
        ['created', (p) => when(p.created_at)],
        ['step', (p) => currentStep(p)],
        ['error', (p) => p.error ? asText(p.error.message) : ''],
      ], shown, 'No process matches.'));
      const notes = [];
      if (!paging) notes.push(`the newest ${PAGE_SIZE}`);
      if (!serverKey && listState.key) notes.push('key matched on this page only');
      if (listState.text) notes.push('text matched on this page only');
      info.textContent = `${shown.length} shown` + (notes.length ? ' (' + notes.join('; ') + ')' : '') + '.';
    };
    return {
      async refresh() {
        let path = '/processes?limit=' + PAGE_SIZE;
        if (listState.status) path += '&status=' + encodeURIComponent(listState.status);
        if (serverKey && listState.key) path += '&key=' + encodeURIComponent(listState.key);
        const cursor = listState.cursors[listState.cursors.length - 1];
        if (paging && cursor) path += '&cursor=' + encodeURIComponent(cursor);
        const t0 = performance.now();
        const doc = await api('get', path);
        items = doc.items || [];
        next = paging ? (doc.next_cursor || doc.cursor || doc.next || null) : null;
        show();
        body.dataset.loadMs = String(Math.round(performance.now() - t0));
        older.disabled = !next;
        newer.disabled = listState.cursors.length <= 1;
      },
      error(e) { info.textContent = e.message; },
    };
  }

  function currentStep(p) {
    if (p.progress && p.progress.step) {
      return el('span', {}, p.progress.step + ' ',
        el('progress', { max: 100, value: Number(p.progress.percent) || 0 }));
    }
    const names = Object.keys(p.steps || {});
    const done = names.filter((n) => p.steps[n] === 'completed').length;
    return `${done}/${names.length}`;
  }

  // -- one process -----------------------------------------------------------------

  function processPage(root, pid) {
    const head = el('div', { class: 'head' });
    const actions = el('div', { class: 'actions', id: 'actions' });
    const result = el('p', { id: 'action-result', role: 'status' });
    const steps = el('ol', { class: 'timeline', id: 'steps' });
    const details = el('div');
    const output = el('pre', { id: 'output', tabindex: '0' });
    const logs = el('pre', { id: 'logs', tabindex: '0' });
    const errorBox = el('div', { id: 'error' });
    const attempts = el('div', { id: 'attempts' });
    const send = el('button', { type: 'submit', id: 'proceed-send', text: 'Proceed' });
    const data = jsonField('proceed-data', 'Data to merge over the output (a JSON object)', '{}', send);
    const proceedForm = el('form', { id: 'proceed-form', class: 'card', hidden: true },
      el('h2', { text: 'Proceed' }), data.node, send);
    fill(root, el('p', {}, el('a', { href: '#/processes', text: '← Processes' })),
      el('h1', {}, 'Process ', el('span', { class: 'pid', text: pid })),
      head, actions, result, proceedForm,
      section('Steps', steps),
      section('Details', details),
      section('Output', output),
      section('Error', errorBox),
      section('Attempts', attempts),
      section('Log', has('get', '/processes/{pid}/logs') ? logs : notAvailable('process logs (/processes/{pid}/logs)')));
    const path = '/processes/' + encodeURIComponent(pid);
    // `done` follows a success: by default the page is read again.
    const act = async (label, method, sub, body, done) => {
      result.textContent = label + '…';
      try {
        const doc = await api(method, path + sub, body);
        if (done) return done();
        result.textContent = label + ': done, now ' + (doc && doc.status ? doc.status : 'changed') + '.';
        await page.refresh();
      } catch (e) {
        if (e.status !== 401) result.textContent = label + ' refused: ' + e.message;
      }
    };
    proceedForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const r = data.check();
      if (r.error) return;
      act('Proceed', 'post', '/proceed', data.area.value);
    });
    const page = {
      async refresh() {
        const p = await api('get', path);
        const created = parseTime(p.created_at);
        const started = parseTime(p.started_at);
        const finished = parseTime(p.finished_at);
        const ran = started === null ? null : (finished === null ? Date.now() : finished) - started;
        fill(head, badge(p.status), p.cancel_requested ? el('span', { class: 'muted', text: ' cancel requested' }) : null);
        document.title = 'procman · ' + pid + ' · ' + p.status;
        fill(actions, canOperate() ? [
          !TERMINAL.has(p.status) && has('post', '/processes/{pid}/cancel')
            ? el('button', { type: 'button', id: 'cancel', class: 'danger', text: 'Cancel', onclick: () => act('Cancel', 'post', '/cancel') }) : null,
          p.status === 'error' && has('post', '/processes/{pid}/retry')
            ? el('button', { type: 'button', id: 'retry', text: 'Retry', onclick: () => act('Retry', 'post', '/retry') }) : null,
          p.status === 'queued' && has('post', '/processes/{pid}/hold')
            ? el('button', { type: 'button', id: 'hold', text: 'Hold', onclick: () => act('Hold', 'post', '/hold') }) : null,
          p.status === 'held' && has('post', '/processes/{pid}/release')
            ? el('button', { type: 'button', id: 'release', text: 'Release', onclick: () => act('Release', 'post', '/release') }) : null,
          TERMINAL.has(p.status) && has('delete', '/processes/{pid}')
            ? el('button', { type: 'button', id: 'remove', class: 'danger', text: 'Remove', onclick: () => act('Remove', 'delete', '', undefined, () => { location.hash = '#/processes'; }) }) : null,
        ] : []);
        proceedForm.hidden = !(canOperate() && p.status === 'interrupted' && has('post', '/processes/{pid}/proceed'));
        const names = Object.keys(p.steps || {});
        const times = p.step_times || {};
        fill(steps, names.map((n, i) => {
          const st = p.steps[n];
          const prog = p.progress && p.progress.step === n ? p.progress : null;
          const t = stepTook(times[n], st);
          return el('li', { class: 'step t-' + st, data: { step: n, state: st } },
            el('span', { class: 'dot', 'aria-hidden': 'true' }),
            el('span', { class: 'name', text: (i + 1) + '. ' + n }),
            el('span', { class: 'state', text: st }),
            t ? el('span', { class: 'took', data: { ms: String(Math.round(t.ms)) },
              title: times[n].started_ms ? 'started ' + new Date(times[n].started_ms).toISOString() : null,
              text: t.text }) : null,
            prog ? el('div', { class: 'progress' },
              el('progress', { max: 100, value: Number(prog.percent) || 0, 'aria-label': n + ' progress' }),
              el('span', { text: ' ' + (Number(prog.percent) || 0).toFixed(0) + ' % ' + (prog.message || '') })) : null);
        }));
        const row = (k, v) => [el('dt', { text: k }), el('dd', {}, v)];
        fill(details, el('dl', { class: 'kv' },
          row('pid', el('span', { class: 'pid', text: p.pid })),
          row('created', when(p.created_at)),
          row('started', when(p.started_at)),
          row('finished', when(p.finished_at)),
          row(finished === null ? 'running for' : 'ran', ran === null ? '–' : span(ran)),
          row('waited', created !== null && started !== null ? span(started - created) : '–'),
          p.key !== undefined ? row('key', asText(p.key)) : null,
          p.priority !== undefined ? row('priority', asText(p.priority)) : null,
          p.schedule !== undefined ? row('schedule', asText(p.schedule)) : null,
          p.not_before !== undefined ? row('not before', when(p.not_before)) : null,
          row('timeout', p.timeout === null ? 'the runner\'s default' : p.timeout + ' s')));
        output.textContent = JSON.stringify(p.output, null, 2);
        if (p.error) {
          const e = p.error;
          fill(errorBox, el('p', { class: 'error-line' },
            el('span', { class: 'badge s-error', text: asText(e.kind) }), ' ',
            e.step ? el('span', { text: 'in step ' + e.step + ': ' }) : null,
            el('span', { id: 'error-message', text: asText(e.message) })),
          e.stack ? el('details', { open: true }, el('summary', { text: 'Stack trace' }), el('pre', { id: 'error-stack', tabindex: '0', text: e.stack })) : null,
          e.stderr_tail ? el('details', {}, el('summary', { text: 'Standard error (last bytes)' }), el('pre', { tabindex: '0', text: e.stderr_tail })) : null,
          e.exit_code !== undefined && e.exit_code >= 0 ? el('p', { class: 'muted', text: 'exit code ' + e.exit_code }) : null,
          e.signal ? el('p', { class: 'muted', text: 'signal ' + e.signal }) : null);
        } else {
          fill(errorBox, el('p', { class: 'muted', text: 'None.' }));
        }
        if (p.attempts !== undefined) {
          fill(attempts, el('p', { text: `${p.attempts} attempt${p.attempts === 1 ? '' : 's'}` +
            (p.retry && p.retry.max !== undefined ? ` of at most ${p.retry.max + 1}` : '') }),
          table([['attempt', (a) => asText(a.attempt)], ['at', (a) => when(a.at)],
            ['kind', (a) => asText(a.kind)], ['step', (a) => asText(a.step)],
            ['message', (a) => asText(a.message)]], p.attempt_errors || [], 'No failed attempt.'));
        } else {
          fill(attempts, el('p', { class: 'muted', text: 'One attempt; no retries set.' }));
        }
        if (has('get', '/processes/{pid}/logs')) {
          try {
            const res = await fetch(API + path + '/logs', { headers: { Authorization: 'Bearer ' + S.token }, cache: 'no-store' });
            const text = await res.text();
            logs.textContent = res.ok ? text.split('\n').slice(-200).join('\n') : 'HTTP ' + res.status;
          } catch (e) { /* shown by the banner */ }
        }
      },
      error(e) { fill(head, el('p', { class: 'error', text: e.message })); },
      onEvent(d) { if (d.pid === pid) refreshSoon(); },
    };
    return page;
  }

  // -- queue --------------------------------------------------------------------------

  function queuePage(root) {
    const summary = el('div', { id: 'queue-summary' });
    const byPriority = el('div', { id: 'queue-priorities' });
    const ready = el('div', { id: 'queue-ready' });
    const delayed = el('div', { id: 'queue-delayed' });
    const held = el('div', { id: 'queue-held' });
    const listed = el('p', { class: 'muted', id: 'queue-listed' });
    fill(root, el('h1', { text: 'Queue' }), section('Summary', summary),
      section('By priority', byPriority),
      section('Ready', ready), section('Delayed', delayed), section('Held', held), listed);
    const cols = [['process', (p) => pidLink(p.pid)], ['priority', (p) => asText(p.priority || 0)],
      ['key', (p) => asText(p.key)], ['enqueued', (p) => when(p.created_at)], ['not before', (p) => when(p.not_before)]];
    return {
      async refresh() {
        // The counts are /queue's; the tables list the newest PAGE_SIZE
        // queued and held processes, not the whole queue.
        const [q, queued, onHold] = await Promise.all([
          has('get', '/queue') ? api('get', '/queue') : null,
          processesOf('queued', PAGE_SIZE), processesOf('held', PAGE_SIZE)]);
        const now = Date.now();
        const due = (p) => parseTime(p.not_before);
        const r = queued.filter((p) => due(p) === null || due(p) <= now)
          .sort((a, b) => (b.priority || 0) - (a.priority || 0) || parseTime(a.created_at) - parseTime(b.created_at));
        const d = queued.filter((p) => due(p) !== null && due(p) > now).sort((a, b) => due(a) - due(b));
        if (q) {
          fill(summary, queueSummary(q));
          fill(byPriority, table([['priority', (x) => asText(x.priority)], ['due', (x) => asText(x.queued)],
            ['delayed', (x) => asText(x.delayed)], ['held', (x) => asText(x.held)],
            ['claimed next', (x) => (x.head ? pidLink(x.head) : '–')],
            ['its wait', (x) => (x.head_wait_ms === null ? '–' : took(x.head_wait_ms))]],
          q.priorities || [], 'Nothing queued, delayed or held.'));
        } else {
          fill(summary, notAvailable('the queue (/queue)'));
          fill(byPriority, notAvailable('the queue (/queue)'));
        }
        fill(ready, table(cols, r, 'Nothing waits.'));
        fill(delayed, table(cols, d, 'Nothing delayed.'));
        fill(held, table(cols.slice(0, 4), onHold, 'Nothing held.'));
        listed.textContent = (queued.length >= PAGE_SIZE || onHold.length >= PAGE_SIZE)
          ? `The tables list the newest ${PAGE_SIZE} queued and the newest ${PAGE_SIZE} held processes; the counts above are all of them.`
          : '';
      },
      heavy: true,
    };
  }

  // -- schedules ----------------------------------------------------------------------

  function schedulesPage(root) {
    const list = el('div', { id: 'schedule-list' });
    const result = el('p', { id: 'schedule-result', role: 'status' });
    const add = el('button', { type: 'submit', id: 'schedule-add', text: 'Add' });
    const name = el('input', { id: 's-name', required: true, autocomplete: 'off' });
    const cron = el('input', { id: 's-cron', required: true, autocomplete: 'off', placeholder: '0 3 * * *' });
    const spec = jsonField('s-spec', 'Process spec (JSON)', '{"steps": {}}', add);
    const form = el('form', { class: 'card', id: 'schedule-form' }, el('h2', { text: 'Add or replace a schedule' }),
      el('div', { class: 'field' }, el('label', { for: 's-name', text: 'Name' }), name),
      el('div', { class: 'field' }, el('label', { for: 's-cron', text: 'Cron (minute hour day month weekday)' }), cron),
      spec.node, add);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = spec.check();
      if (r.error) return;
      try {
        await api('post', '/schedules', { name: name.value, cron: cron.value, spec: r.value });
        result.textContent = 'Schedule ' + name.value + ' saved.';
        refresh();
      } catch (err) { if (err.status !== 401) result.textContent = 'Refused: ' + err.message; }
    });
    fill(root, el('h1', { text: 'Schedules' }), list, result, canOperate() ? form : null);
    return {
      async refresh() {
        const all = await api('get', '/schedules');
        const cols = [['name', (s) => asText(s.name)], ['cron', (s) => el('code', { text: asText(s.cron) })],
          ['next due', (s) => when(s.next_due)], ['last run', (s) => when(s.last_fired)],
          ['last process', (s) => s.last_pid ? pidLink(s.last_pid) : ''],
          ['spec', (s) => el('details', {}, el('summary', { text: 'spec' }), el('pre', { text: JSON.stringify(s.spec, null, 2) }))]];
        if (canOperate()) {
          cols.push(['', (s) => el('button', { type: 'button', class: 'danger', text: 'Remove',
            'aria-label': 'Remove schedule ' + s.name,
            onclick: async () => {
              try {
                await api('delete', '/schedules/' + encodeURIComponent(s.name));
                result.textContent = 'Schedule ' + s.name + ' removed.';
                refresh();
              } catch (err) { if (err.status !== 401) result.textContent = 'Refused: ' + err.message; }
            } })]);
        }
        fill(list, table(cols, all, 'No schedule.'));
      },
      error(e) { result.textContent = e.message; },
    };
  }

  // -- nodes -------------------------------------------------------------------------

  function nodesPage(root) {
    const body = el('div', { id: 'node-list' });
    fill(root, el('h1', { text: 'Nodes' }), body);
    if (!has('get', '/nodes')) {
      fill(body, notAvailable('the nodes (/nodes): the store node, its workers, their leases and when each was last heard'));
      return {};
    }
    return {
      async refresh() {
        const doc = await api('get', '/nodes');
        if (Array.isArray(doc)) fill(body, generic(doc));
        else fill(body, anyJson(doc));
      },
    };
  }

  // -- routing ---------------------------------------------------------------------------

  const pages = {
    '': overview, processes, process: processPage, queue: queuePage,
    schedules: schedulesPage, nodes: nodesPage,
  };

  function route(moved) {
    if (!S.token || !S.me) return;
    const hash = location.hash.replace(/^#\/?/, '');
    const [path, query] = hash.split('?');
    const [name, arg] = path.split('/');
    const make = pages[name] || overview;
    if (S.page && S.page.stop) S.page.stop();
    S.reads.abort();
    S.reads = new AbortController();
    for (const a of document.querySelectorAll('#nav a')) {
      const here = (a.dataset.page === 'overview' ? '' : a.dataset.page) === (name === 'process' ? 'processes' : name);
      if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    document.title = 'procman · ' + (name || 'overview');
    const root = $('page');
    S.page = make(root, name === 'process' ? decodeURIComponent(arg || '') : query);
    document.body.dataset.page = name || 'overview';
    if (moved) $('view').focus();
    refresh();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token').value.trim();
      if (!t) return;
      $('signin-error').textContent = 'Checking…';
      signIn(t);
    });
    $('signout').addEventListener('click', () => signOut('Signed out.'));
    // The pages live in the address's fragment: the skip link moves the
    // focus instead of changing it.
    document.querySelector('.skip').addEventListener('click', (e) => {
      e.preventDefault();
      $('view').focus();
    });
    window.addEventListener('hashchange', () => route(true));
    let resizing = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { if (S.page && S.page.resize) S.page.resize(); }, 150);
    });
    if (S.token) signIn(S.token);
    else showSignin('');
  });
})();
