// Administration → Licenses: the guide's Cluster License Management — the pool, New (a batch of
// keys), Delete; refreshed every 5 s.
import { api, el, show, refreshEvery, REFRESH_MS, statusLine } from './lib.js';

const LICENSE_COLUMNS = [
  ['License Hash', (l) => l.licenseHash],
  ['Licensed To', (l) => l.licensedTo],
  ['Valid Through', (l) => l.validThrough + (l.expired ? ' (expired)' : '')],
  ['License Type', (l) => l.type],
  ['Node ID', (l) => l.nodeId],
  ['Node URL', (l) => l.nodeUrl],
];

async function licensesPage() {
  const status = statusLine('licenses-status');
  status.set('Loading…');
  const filter = el('input', { id: 'licenses-filter', type: 'search', placeholder: 'Licensed To or Node ID' });
  const body = el('tbody', { id: 'licenses-rows' });
  const result = el('ul', { id: 'licenses-result', 'aria-live': 'polite' });
  const keys = el('textarea', { id: 'licenses-keys', rows: 6, cols: 60, spellcheck: 'false' });
  let pool = [];
  const selected = new Set();
  const draw = () => {
    const wanted = filter.value.trim().toLowerCase();
    const rows = pool.filter((l) => !wanted || `${l.licensedTo} ${l.nodeId}`.toLowerCase().includes(wanted));
    body.replaceChildren(...rows.map((l) => {
      const box = el('input', { type: 'checkbox', 'aria-label': `Select license ${l.licenseHash}`, checked: selected.has(l.licenseHash),
        onchange: (e) => (e.target.checked ? selected.add(l.licenseHash) : selected.delete(l.licenseHash)) });
      return el('tr', { 'data-license': l.licenseHash }, el('td', {}, box),
        LICENSE_COLUMNS.map(([, value]) => el('td', {}, value(l) === undefined ? '' : value(l))));
    }));
    status.set(`${pool.length} license(s), updated ${new Date().toLocaleTimeString()}`);
  };
  const load = async () => {
    try {
      pool = await api('GET', '/api/system/licenses');
      draw();
    } catch (e) {
      status.set(e.message, true);
    }
  };
  const report = (answer) => {
    const messages = answer && answer.messages ? Object.entries(answer.messages) : [];
    result.replaceChildren(...messages.map(([key, message]) => el('li', {}, `${key.slice(0, 16)}…: ${message}`)));
  };
  const add = async (event) => {
    event.preventDefault();
    // the guide: keys separated by newlines, spaces or semicolons
    const batch = keys.value.split(/[\s;]+/).filter(Boolean).map((k) => ({ licenseKey: k }));
    if (!batch.length) return;
    try {
      report(await api('POST', '/api/system/licenses', batch));
      keys.value = '';
    } catch (e) {
      report(e.data);
      if (!(e.data && e.data.messages)) result.replaceChildren(el('li', { className: 'error' }, e.message));
    }
    await load();
  };
  const remove = async () => {
    if (!selected.size) return;
    try {
      report(await api('DELETE', `/api/system/licenses?licenseHash=${[...selected].map(encodeURIComponent).join(',')}`));
    } catch (e) {
      report(e.data);
      if (!(e.data && e.data.messages)) result.replaceChildren(el('li', { className: 'error' }, e.message));
    }
    selected.clear();
    await load();
  };
  show(
    el('h1', {}, 'Licenses'),
    el('p', { className: 'muted' }, `The cluster's license pool; node statuses refresh every ${REFRESH_MS / 1000} s.`),
    el('label', { for: 'licenses-filter' }, 'Filter '), filter,
    status,
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'License pool' },
      el('table', { id: 'licenses-table' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'Select')),
          LICENSE_COLUMNS.map(([title]) => el('th', { scope: 'col' }, title)))),
        body)),
    el('p', {}, el('button', { type: 'button', id: 'licenses-delete', className: 'secondary', onclick: remove }, 'Delete selected')),
    el('form', { id: 'licenses-add', onsubmit: add },
      el('h2', {}, 'New'),
      el('label', { for: 'licenses-keys' }, 'License keys (one per line, or separated by spaces or semicolons); or drop a file with the keys here'),
      el('div', {}, keys),
      el('button', { type: 'submit', id: 'licenses-save' }, 'Save')),
    result);
  filter.addEventListener('input', draw);
  // the guide: "you can also simply drag and drop the file containing the license key(s) into the same field"
  keys.addEventListener('dragover', (e) => e.preventDefault());
  keys.addEventListener('drop', async (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    const texts = await Promise.all(files.map((f) => f.text()));
    if (texts.length) keys.value = [keys.value.trim(), ...texts.map((t) => t.trim())].filter(Boolean).join('\n');
  });
  await load();
  refreshEvery(load);
}

export const pages = [
  { path: '/admin/licenses', title: 'Licenses', group: 'Administration', admin: true, render: licensesPage,
    summary: 'the license pool — add a batch of keys, delete.' },
];
