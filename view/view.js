// daxmon's live view (docs/view.md): plain DOM and canvas, no dependency, everything from daxmon's
// own JSON API, which redacts kernel addresses for a client without the API token. Polling, at
// bounded rates: violations every 250 ms, state and maps every second, checks every 5 s.

const TOKEN_KEY = 'daxmon-api-token';
// The columns of /api/pgmaps/:id/map, in the server's order (MAP_STATES in src/server/view/page-map.ts;
// test/view/page-map.test.ts holds the two equal). mapped_unknown: old model, unmap not observable.
const STATES = ['idle', 'mapped', 'pinned', 'referenced', 'free', 'mapped_unknown', 'uncertain', 'unknown'];
/** What a cell of many pages shows: its most notable state present (the mix is on hover). */
const PRIORITY = ['pinned', 'uncertain', 'referenced', 'mapped', 'mapped_unknown', 'free', 'idle', 'unknown'];
const CELL_PX = 6;
const COLS = 128;
const MAP_CELLS = 4096;
const RATE_SAMPLES = 60;

const css = getComputedStyle(document.documentElement);
const COLOURS = Object.fromEntries(STATES.map((s) => [s, css.getPropertyValue(`--${s}`).trim()]));

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (text children become text nodes: never HTML). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

const hex = (n) => (typeof n === 'number' ? `0x${n.toString(16)}` : String(n));

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

async function api(path) {
  const t = token();
  const r = await fetch(path, { headers: t ? { authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(body?.message ?? `${path}: HTTP ${r.status}`);
  return body;
}

/** Run `fn` every `ms`, never two at once; errors show in the health strip and do not stop it. */
function every(ms, fn) {
  const loop = async () => {
    try {
      await fn();
      view.errors.delete(fn);
    } catch (err) {
      view.errors.set(fn, err.message);
    }
    renderErrors();
    setTimeout(loop, ms);
  };
  loop();
}

const view = {
  state: null,
  stateAt: 0,
  checks: [],
  rates: [],
  lastCounts: null,
  maps: new Map(),
  errors: new Map(),
};

// ---- token ------------------------------------------------------------------------------------

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = $('token').value.trim();
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  $('token').value = '';
  refreshAll();
});
$('token-forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  refreshAll();
});

function renderTokenStatus() {
  const s = view.state;
  let text = 'no token: addresses hidden';
  if (token()) {
    const keyed = s?.pgmaps?.some((p) => 'kernelKey' in p);
    text = !s?.pgmaps?.length ? 'token set' : keyed ? 'token accepted' : 'token not accepted';
  }
  $('token-status').textContent = text;
  $('token-status').dataset.token = token() ? 'set' : 'none';
}

// ---- health strip -----------------------------------------------------------------------------

async function pollState() {
  const s = await api('/api/state');
  const now = performance.now();
  if (view.lastCounts && view.stateAt) {
    const dt = (now - view.stateAt) / 1000;
    const rate = {};
    for (const [t, n] of Object.entries(s.events.byType)) {
      const d = n - (view.lastCounts[t] ?? 0);
      if (d > 0) rate[t] = d / dt;
    }
    view.rates.push(rate);
    if (view.rates.length > RATE_SAMPLES) view.rates.shift();
  }
  view.lastCounts = s.events.byType;
  view.state = s;
  view.stateAt = now;
  renderHealth();
  renderWaits();
  renderTokenStatus();
  syncMaps(s.pgmaps.filter((p) => p.phase !== 'gone'));
}

async function pollChecks() {
  view.checks = await api('/api/checks');
  renderHealth();
}

function card(label, value, bad = false, title) {
  return el('div', { class: bad ? 'card bad' : 'card', title }, el('b', {}, label), value);
}

function renderHealth() {
  const s = view.state;
  if (!s) return;
  $('kernel').textContent =
    `kernel ${s.kernel.release} · refcount model ${s.kernel.model} · up ${Math.round(s.uptimeSeconds)} s`;
  const probes = s.probes;
  const attached = probes.filter((p) => p.attached);
  const missing = probes.filter((p) => !p.attached);
  const lost = Object.values(s.events.lost).reduce((a, b) => a + b, 0);
  const active = view.checks.filter((c) => c.active);
  const inactive = view.checks.filter((c) => !c.active);
  const scan = s.scan;
  const lastScan =
    typeof scan?.lastSuccessUnixSeconds === 'number'
      ? `${Math.round(Date.now() / 1000 - scan.lastSuccessUnixSeconds)} s ago`
      : scan
        ? (scan.lastError ?? 'not yet')
        : 'scanner off';
  const backends = s.backends.length
    ? s.backends
        .map((b) => `${b.backend} ${b.up ? 'up' : 'down'}${b.restarts ? ` (${b.restarts} restarts)` : ''}`)
        .join(', ')
    : 'none';
  $('health').replaceChildren(
    card(
      'backends',
      backends,
      s.backends.some((b) => !b.up),
    ),
    card(
      'probes attached',
      `${attached.length} of ${probes.length}`,
      missing.length > 0,
      missing.map((p) => `${p.backend}:${p.probe} not attached: ${p.detail}`).join('\n') || 'all attached',
    ),
    card(
      'checks active',
      `${active.length} of ${view.checks.length}`,
      inactive.length > 0,
      inactive.map((c) => `${c.invariant} ${c.kind}: ${c.reason}`).join('\n') || 'all active',
    ),
    card('events lost', String(lost), lost > 0),
    card('last scan', lastScan, scan ? scan.lastSuccessUnixSeconds === null : false),
    card('folios tracked', String(s.folios.tracked)),
    rateCard(),
  );
  const notAttached = missing.length
    ? el(
        'div',
        { class: 'card bad', id: 'probes-missing' },
        el('b', {}, 'probes not attached'),
        el(
          'ul',
          {},
          missing.slice(0, 8).map((p) => el('li', {}, `${p.probe}: ${p.detail}`)),
        ),
      )
    : null;
  if (notAttached) $('health').append(notAttached);
}

/** Events per second by type: the latest rates as bars and the total's last minute as a sparkline. */
function rateCard() {
  const last = view.rates[view.rates.length - 1] ?? {};
  const total = Object.values(last).reduce((a, b) => a + b, 0);
  const c = el('canvas', { class: 'chart', width: 160, height: 30 });
  const g = c.getContext('2d');
  const totals = view.rates.map((r) => Object.values(r).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  g.strokeStyle = '#3b82f6';
  g.beginPath();
  totals.forEach((v, i) => {
    const x = (i / (RATE_SAMPLES - 1)) * 159;
    const y = 29 - (v / max) * 28;
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  const top = Object.entries(last)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  return el(
    'div',
    { class: 'card', id: 'rates' },
    el('b', {}, `events/s: ${total.toFixed(0)}`),
    c,
    el(
      'table',
      {},
      top.map(([t, v]) => el('tr', {}, el('td', {}, t), el('td', {}, v.toFixed(0)))),
    ),
  );
}

function renderErrors() {
  const msgs = [...new Set(view.errors.values())];
  let box = $('errors');
  if (!msgs.length) {
    box?.remove();
    return;
  }
  if (!box) {
    box = el('div', { class: 'card bad', id: 'errors' });
    $('health').prepend(box);
  }
  box.replaceChildren(el('b', {}, 'cannot read the API'), msgs.join('; '));
}

// ---- waits ------------------------------------------------------------------------------------

function renderWaits() {
  const s = view.state;
  if (!s) return;
  const since = (performance.now() - view.stateAt) / 1000;
  if (!s.waits.length) {
    $('waits').replaceChildren('none');
    return;
  }
  $('waits').replaceChildren(
    ...s.waits.map((w) =>
      el(
        'div',
        { class: 'wait' },
        el('b', {}, `${w.comm} [${w.pid}] `),
        `${w.fn} on ${w.dev} ino ${w.ino}: `,
        el('span', { class: 'age' }, `${(w.ageSeconds + since).toFixed(1)} s`),
        `, ${w.busyPages} busy page${w.busyPages === 1 ? '' : 's'}`,
        w.busyPfns.length ? ` (${w.busyPfns.map(hex).join(', ')})` : '',
        w.uninterruptible ? ' · uninterruptible' : '',
        w.uncertain ? ' · uncertain' : '',
      ),
    ),
  );
}

// ---- violations -------------------------------------------------------------------------------

async function pollViolations() {
  const r = await api('/api/violations?limit=25');
  $('violations-count').textContent = `${r.total} stored, newest first`;
  const t0 = (v) => v.t;
  $('violations').replaceChildren(
    ...r.items.map((v) =>
      el(
        'li',
        { class: `violation ${v.severity}`, 'data-id': v.id, 'data-kind': v.kind },
        el(
          'div',
          {},
          el('span', { class: 'kind' }, `${v.invariant} ${v.kind}`),
          ` · ${v.severity} · `,
          el('time', {}, v.time),
          v.count > 1 ? ` · ×${v.count}` : '',
          v.clearedT !== null ? ' · cleared' : '',
        ),
        el(
          'div',
          {},
          `pfn ${v.pfn === null ? '–' : hex(v.pfn)}`,
          v.pgmap ? ` in ${v.pgmap.id}` : '',
          ` · ${v.comm} [${v.pid}]`,
        ),
        el('div', {}, v.message),
        v.recentEvents?.length
          ? el(
              'div',
              { class: 'timeline', title: 'the folio’s last events, oldest first' },
              [...v.recentEvents]
                .reverse()
                .map((e) =>
                  el(
                    'span',
                    {},
                    `${e.type} r${e.refcount}/m${e.mapcount} ${((e.t - t0(v)) / 1e6).toFixed(1)} ms`,
                  ),
                ),
            )
          : null,
        v.stack?.length
          ? el('details', {}, el('summary', {}, 'stack'), el('pre', {}, v.stack.join('\n')))
          : null,
      ),
    ),
  );
}

// ---- the page-state maps ----------------------------------------------------------------------

function legend() {
  $('legend').replaceChildren(...STATES.flatMap((s) => [el('i', { style: `background:${COLOURS[s]}` }), s]));
}

function syncMaps(pgmaps) {
  const ids = new Set(pgmaps.map((p) => p.id));
  for (const [id, m] of view.maps)
    if (!ids.has(id)) {
      m.box.remove();
      view.maps.delete(id);
    }
  for (const p of pgmaps) {
    let m = view.maps.get(p.id);
    if (!m) {
      m = newMap(p);
      view.maps.set(p.id, m);
      $('maps').append(m.box);
    }
    m.title.textContent = `${p.id} · ${p.type} · ${p.device ?? 'no device'} · ${p.pages} pages · ${p.phase}${
      p.kernelKey !== undefined ? ` · kernel key ${p.kernelKey}` : ''
    }`;
  }
}

function newMap(p) {
  const canvas = el('canvas', { 'data-pgmap': p.id });
  const title = el('div', {});
  const note = el('div', { class: 'muted' });
  const box = el('div', { class: 'pgmap' }, title, note, canvas);
  const m = { id: p.id, box, canvas, title, note, data: null, cells: null };
  canvas.addEventListener('mousemove', (ev) => hover(m, ev));
  canvas.addEventListener('mouseleave', () => ($('tip').hidden = true));
  canvas.addEventListener('click', (ev) => showPages(m, cellAt(m, ev)));
  return m;
}

async function pollMaps() {
  await Promise.all(
    [...view.maps.values()].map(async (m) => {
      const d = await api(`/api/pgmaps/${m.id}/map?cells=${MAP_CELLS}`);
      m.data = d;
      m.cells = [];
      for (const r of d.runs) for (let i = 0; i < r[0]; i++) m.cells.push(r.slice(1));
      drawMap(m);
    }),
  );
}

function cellState(counts) {
  for (const s of PRIORITY) if (counts[STATES.indexOf(s)] > 0) return s;
  return 'unknown';
}

function drawMap(m) {
  const d = m.data;
  const rows = Math.ceil(d.cells / COLS);
  const c = m.canvas;
  if (c.width !== COLS * CELL_PX || c.height !== rows * CELL_PX) {
    c.width = COLS * CELL_PX;
    c.height = rows * CELL_PX;
  }
  Object.assign(c.dataset, { cols: COLS, cellPx: CELL_PX, pagesPerCell: d.pagesPerCell, cells: d.cells });
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  m.cells.forEach((counts, i) => {
    g.fillStyle = COLOURS[cellState(counts)];
    g.fillRect((i % COLS) * CELL_PX, Math.floor(i / COLS) * CELL_PX, CELL_PX - 1, CELL_PX - 1);
  });
  // Compound folios spanning more than one cell: outlined, one rectangle per row they cover.
  g.strokeStyle = '#111';
  g.lineWidth = 1;
  for (const b of d.blocks) {
    const first = Math.floor(indexOf(d, b.pfn) / d.pagesPerCell);
    const last = Math.floor((indexOf(d, b.pfn) + 2 ** b.order - 1) / d.pagesPerCell);
    if (last === first) continue;
    for (let row = Math.floor(first / COLS); row <= Math.floor(last / COLS); row++) {
      const a = Math.max(first, row * COLS) % COLS;
      const z = Math.min(last, row * COLS + COLS - 1) % COLS;
      g.strokeRect(a * CELL_PX + 0.5, row * CELL_PX + 0.5, (z - a + 1) * CELL_PX - 1, CELL_PX - 1);
    }
  }
  const smallBlocks = d.blocks.length;
  m.note.textContent = `${d.pagesPerCell} page${d.pagesPerCell === 1 ? '' : 's'} a cell · ${smallBlocks} compound folio${
    smallBlocks === 1 ? '' : 's'
  }${d.blocksTruncated ? ' (first ones outlined)' : ''} · ${
    d.scannedAt ? `scanned ${d.scannedAt}` : 'never scanned: grey pages are unknown'
  } · ${d.tracked} tracked`;
}

function indexOf(d, pfn) {
  let base = 0;
  for (const r of d.ranges) {
    if (pfn >= r.pfn && pfn < r.pfn + r.nrPages) return base + (pfn - r.pfn);
    base += r.nrPages;
  }
  return -1;
}

function pfnAt(d, index) {
  let base = 0;
  for (const r of d.ranges) {
    if (index < base + r.nrPages) return r.pfn + (index - base);
    base += r.nrPages;
  }
  return -1;
}

function cellAt(m, ev) {
  const rect = m.canvas.getBoundingClientRect();
  const x = Math.floor(((ev.clientX - rect.left) * (m.canvas.width / rect.width)) / CELL_PX);
  const y = Math.floor(((ev.clientY - rect.top) * (m.canvas.height / rect.height)) / CELL_PX);
  const i = y * COLS + x;
  return m.data && i >= 0 && i < m.data.cells ? i : -1;
}

function hover(m, ev) {
  const i = cellAt(m, ev);
  const tip = $('tip');
  if (i < 0) {
    tip.hidden = true;
    return;
  }
  const d = m.data;
  const from = pfnAt(d, i * d.pagesPerCell);
  const n = Math.min(d.pagesPerCell, d.nrPages - i * d.pagesPerCell);
  const mix = STATES.map((s, k) => [s, m.cells[i][k]]).filter(([, v]) => v > 0);
  const blocks = d.blocks.filter((b) => {
    const k = indexOf(d, b.pfn);
    return k < (i + 1) * d.pagesPerCell && k + 2 ** b.order > i * d.pagesPerCell;
  });
  tip.textContent = [
    `pfn ${hex(from)}${n > 1 ? `…${hex(from + n - 1)}` : ''} (${n} page${n === 1 ? '' : 's'})`,
    ...mix.map(([s, v]) => `${s}: ${v}`),
    ...blocks.slice(0, 4).map((b) => `folio ${hex(b.pfn)} order ${b.order}`),
    'click: list its pages',
  ].join('\n');
  tip.style.left = `${ev.clientX + 12}px`;
  tip.style.top = `${ev.clientY + 12}px`;
  tip.hidden = false;
}

async function showPages(m, i) {
  if (i < 0) return;
  const d = m.data;
  const from = pfnAt(d, i * d.pagesPerCell);
  const count = Math.min(256, d.pagesPerCell, d.nrPages - i * d.pagesPerCell);
  const box = $('pages');
  box.replaceChildren(el('p', { class: 'muted' }, `reading ${count} pages from ${hex(from)}…`));
  try {
    const r = await api(`/api/pgmaps/${m.id}/pages?from=${from}&count=${count}`);
    box.replaceChildren(
      el('h2', {}, `${m.id}: pages ${hex(from)}… at the last scan (${r.scannedAt})`),
      el(
        'table',
        { id: 'pages-table' },
        el(
          'tr',
          {},
          ['pfn', 'state', 'refcount', 'mapcount', 'pincount', 'order', 'head', 'entry'].map((h) =>
            el('th', {}, h),
          ),
        ),
        r.pages.map((p) =>
          el(
            'tr',
            {},
            [
              hex(p.pfn),
              p.state ?? 'unread',
              p.refcount,
              p.mapcount,
              p.pincount,
              p.order,
              p.headPfn === null ? '' : hex(p.headPfn),
              p.entry === null ? '' : p.entry ? 'yes' : 'no',
            ].map((v) => el('td', {}, v ?? '')),
          ),
        ),
      ),
    );
  } catch (err) {
    box.replaceChildren(el('p', { class: 'muted' }, err.message));
  }
}

// ---- start ------------------------------------------------------------------------------------

function refreshAll() {
  renderTokenStatus();
  pollState()
    .then(pollMaps)
    .catch(() => {});
  pollViolations().catch(() => {});
}

legend();
renderTokenStatus();
every(1000, async () => {
  await pollState();
  await pollMaps();
});
every(250, pollViolations);
every(5000, pollChecks);
// The waits' ages grow between polls.
setInterval(renderWaits, 250);
