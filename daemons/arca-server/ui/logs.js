// Administration → System Logs: a node's recent log (GET /api/system/logs), this node's or —
// through this node, which asks the other one with a signed node-to-node call — another
// registered node's. Filters by level ("at least") and text; Follow polls every 5 s for the lines
// after the last one shown and appends them.
import { api, el, show, refreshEvery, stopRefresh, REFRESH_MS, session, statusLine } from './lib.js';

// lines asked for per load (the start-up lines come in addition) and kept on the page: beyond
// that the oldest followed lines are dropped, so a long Follow stays responsive
const LIMIT = 2000;
const MAX_SHOWN = 3000;
const LEVELS = [
  ['', 'All levels'],
  ['ERROR', 'ERROR'],
  ['WARN', 'WARN and above'],
  ['INFO', 'INFO and above'],
  ['DEBUG', 'DEBUG and above'],
];
const BANNER = 'HA Node ID';

// `node` always named: behind a load balancer the node answering may not be the one the page came from
function logsPath(node, level, text, after, limit) {
  const q = new URLSearchParams();
  if (node) q.set('node', node);
  if (level) q.set('level', level);
  if (text) q.set('q', text);
  if (after) q.set('after', String(after));
  q.set('limit', String(limit || LIMIT));
  return `/api/system/logs?${q}`;
}

function lineNode(l) {
  const level = String(l.level || '').toLowerCase();
  return el('div', { className: `log-line level-${level}`, 'data-seq': l.seq },
    el('span', { className: 'log-time' }, String(l.time || '').replace('T', ' ')), ' ',
    el('span', { className: 'log-level' }, l.level), ' ',
    el('span', { className: 'log-target' }, l.target), ' ',
    el('span', { className: 'log-message' }, l.message));
}

function gapText(answer) {
  const parts = [];
  if (answer.omitted) parts.push(`${answer.omitted} older matching line(s) not shown`);
  if (answer.evicted) {
    const kept = answer.kept ? ` (the node keeps its start-up and its latest ${answer.kept.lines} lines)` : '';
    parts.push(`${answer.evicted} line(s) no longer kept${kept}`);
  }
  return parts.length ? `… ${parts.join('; ')} …` : '';
}

async function logsPage(rest) {
  const me = session.me || {};
  let node = rest || me.nodeId || '';
  const status = statusLine('logs-status');
  const nodeSelect = el('select', { id: 'logs-node' }, el('option', { value: node }, node));
  const levelSelect = el('select', { id: 'logs-level' }, LEVELS.map(([value, label]) => el('option', { value }, label)));
  const text = el('input', { id: 'logs-text', type: 'search', placeholder: 'text in the line', autocomplete: 'off' });
  const follow = el('input', { id: 'logs-follow', type: 'checkbox' });
  const refresh = el('button', { type: 'button', className: 'secondary', id: 'logs-refresh' }, 'Refresh');
  const banner = el('p', { className: 'logs-banner', id: 'logs-banner' });
  const startup = el('div', { id: 'logs-startup' });
  const gap = el('div', { className: 'log-gap', id: 'logs-gap', hidden: true });
  const tail = el('div', { id: 'logs-tail' });
  const empty = el('p', { className: 'muted', id: 'logs-empty', hidden: true }, 'No line matches.');
  const region = el('div', { className: 'log-lines', id: 'logs-lines', tabindex: 0, role: 'region', 'aria-label': 'Log lines' },
    startup, gap, tail, empty);

  show(
    el('h1', {}, 'System Logs'),
    el('form', { className: 'logs-controls', id: 'logs-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      el('label', { for: 'logs-node' }, 'Node', nodeSelect),
      el('label', { for: 'logs-level' }, 'Level', levelSelect),
      el('label', { for: 'logs-text' }, 'Text', text),
      el('label', { for: 'logs-follow', className: 'logs-follow' }, follow, `Follow (every ${REFRESH_MS / 1000} s)`),
      refresh),
    banner,
    status,
    region);

  // what is on the page: the answer's node and filters, and the last sequence number seen
  let shown = { key: '', lastSeq: 0 };
  let generation = 0;
  const filters = () => ({ node, level: levelSelect.value, text: text.value.trim() });
  const keyOf = (f) => JSON.stringify(f);
  const atBottom = () => region.scrollHeight - region.scrollTop - region.clientHeight < 40;

  function describe(answer, count) {
    const who = answer.node === me.nodeId ? `${answer.node} (this node)` : answer.node;
    status.set(`${who}: ${count} line(s) shown · updated ${new Date().toLocaleTimeString()}${follow.checked ? ' · following' : ''}`);
  }

  function trim() {
    let extra = startup.childElementCount + tail.childElementCount - MAX_SHOWN;
    if (extra <= 0) return;
    while (extra > 0 && tail.firstChild) {
      tail.firstChild.remove();
      extra -= 1;
    }
    gap.textContent = `… older lines not shown: the page keeps the latest ${MAX_SHOWN} …`;
    gap.hidden = false;
  }

  // the whole view afresh (a new node or filter)
  async function load() {
    const f = filters();
    const mine = ++generation;
    status.set('Loading…');
    try {
      const answer = await api('GET', logsPath(f.node, f.level, f.text, 0));
      if (mine !== generation) return;
      const lines = answer.lines || [];
      const cut = answer.startupLastSeq || 0;
      startup.replaceChildren(...lines.filter((l) => l.seq <= cut).map(lineNode));
      tail.replaceChildren(...lines.filter((l) => l.seq > cut).map(lineNode));
      const between = gapText(answer);
      gap.textContent = between;
      gap.hidden = !between;
      empty.hidden = lines.length > 0;
      region.setAttribute('aria-label', `Log lines of node ${answer.node}`);
      trim();
      shown = { key: keyOf(f), lastSeq: answer.lastSeq || 0 };
      describe(answer, lines.length);
      region.scrollTop = region.scrollHeight;
    } catch (e) {
      if (mine !== generation) return;
      startup.replaceChildren();
      tail.replaceChildren();
      gap.hidden = true;
      empty.hidden = true;
      shown = { key: '', lastSeq: 0 };
      status.set(e.message, true);
    }
  }

  // Follow: only the lines after the last one seen, appended
  async function poll() {
    const f = filters();
    if (keyOf(f) !== shown.key) {
      await load();
      return;
    }
    const mine = generation;
    try {
      const answer = await api('GET', logsPath(f.node, f.level, f.text, shown.lastSeq));
      if (mine !== generation || keyOf(filters()) !== shown.key) return;
      const stick = atBottom();
      const lines = answer.lines || [];
      if (answer.omitted) tail.append(el('div', { className: 'log-gap' }, `… ${answer.omitted} line(s) skipped …`));
      if (lines.length) {
        const fragment = document.createDocumentFragment();
        fragment.append(...lines.map(lineNode));
        tail.append(fragment);
        empty.hidden = true;
        trim();
      }
      shown.lastSeq = answer.lastSeq || shown.lastSeq;
      describe(answer, startup.childElementCount + tail.querySelectorAll('.log-line').length);
      if (stick) region.scrollTop = region.scrollHeight;
    } catch (e) {
      status.set(e.message, true);
    }
  }

  // the node's start-up banner, whatever the filters show
  async function loadBanner() {
    banner.replaceChildren();
    try {
      const answer = await api('GET', logsPath(node, 'INFO', BANNER, 0, 1));
      const line = (answer.lines || []).find((l) => l.message.includes(BANNER));
      banner.replaceChildren(line
        ? el('span', {}, el('strong', {}, `Node ${answer.node} started `), el('span', { className: 'log-time' }, line.time.replace('T', ' ')), ': ',
          el('code', {}, line.message))
        : el('span', { className: 'muted' }, `Node ${answer.node}: no start-up banner in its recent log.`));
    } catch (_) {
      // the main load shows the error
    }
  }

  let typing = null;
  text.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(load, 300);
  });
  levelSelect.addEventListener('change', load);
  refresh.addEventListener('click', load);
  nodeSelect.addEventListener('change', () => {
    node = nodeSelect.value;
    // a link to this node's log, without showing the page again
    history.replaceState(null, '', `#/admin/logs/${encodeURIComponent(node)}`);
    loadBanner();
    load();
  });
  follow.addEventListener('change', () => {
    if (follow.checked) {
      refreshEvery(poll);
      poll();
    } else {
      stopRefresh();
      status.set(status.textContent.replace(' · following', ''));
    }
  });

  // every registered node (a single node lists itself)
  try {
    const nodes = await api('GET', '/api/system/ha/nodes');
    if (!nodes.some((n) => n.id === node)) node = me.nodeId || (nodes[0] && nodes[0].id) || '';
    nodeSelect.replaceChildren(...nodes.map((n) => {
      const notes = [];
      if (n.id === me.nodeId) notes.push('this node');
      if (n.stale || n.state !== 'RUNNING') notes.push(n.stale ? 'unavailable' : n.state);
      return el('option', { value: n.id }, notes.length ? `${n.id} (${notes.join(', ')})` : n.id);
    }));
    nodeSelect.value = node;
  } catch (_) {
    // the node list is a convenience: this node's log still shows
  }
  await Promise.all([load(), loadBanner()]);
}

export const pages = [
  { path: '/admin/logs', title: 'System Logs', group: 'Administration', admin: true, render: logsPage,
    summary: 'the recent log of this node and of the other nodes, by level and text, with Follow.' },
];
