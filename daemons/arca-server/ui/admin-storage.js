// Administration → Storage: the binary store chain this node runs, its directories, the cache's
// usage, the eventual queue's backlog and the storage mover's report, as GET /api/system/storage
// gives them (refreshed every 5 s); "Run garbage collection" (POST /api/system/storage/gc).
import { api, el, show, refreshEvery, REFRESH_MS, formatBytes, statusLine } from './lib.js';

const bytes = (n) => (n === undefined || n === null ? '' : `${formatBytes(n)} (${Number(n).toLocaleString('en')} bytes)`);
const yesNo = (b) => (b === undefined || b === null ? 'not known yet' : b ? 'yes' : 'no');

// A <dl> of [term, value] pairs; absent values are left out.
function facts(id, pairs) {
  return el('dl', { className: 'facts', id },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
      .flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

function section(title, id, ...content) {
  return el('section', { className: 'card', 'aria-labelledby': `${id}-title`, id },
    el('h2', { id: `${id}-title` }, title), ...content);
}

function draw(s) {
  const tiers = (s.chain || '').split('->').map((t) => t.trim()).filter(Boolean);
  const parts = [
    section('Chain', 'storage-chain',
      el('ol', { className: 'chain', id: 'storage-tiers', 'aria-label': 'Providers, first asked first' },
        tiers.map((t) => el('li', {}, el('code', {}, t)))),
      facts('storage-dirs', [
        ['Backend', s.backend],
        ['File store', s.fileStoreDir],
        ['Object store', s.objectStore],
        ['Eventual queue', s.eventualDir],
        ['Staging', s.stagingDir],
      ])),
  ];
  if (s.cache) {
    parts.push(section('Cache', 'storage-cache', facts('storage-cache-facts', [
      ['Entries', s.cache.entries.toLocaleString('en')],
      ['Used', bytes(s.cache.bytes)],
      ['Maximum', bytes(s.cache.maxBytes)],
    ])));
  }
  if (s.backlog) {
    parts.push(section('Eventual queue backlog', 'storage-backlog', facts('storage-backlog-facts', [
      ['Uploads waiting', s.backlog.adds.toLocaleString('en')],
      ['Bytes waiting', bytes(s.backlog.addBytes)],
      ['Deletes waiting', s.backlog.deletes.toLocaleString('en')],
      ['Oldest entry', s.backlog.oldestAgeSecs === null || s.backlog.oldestAgeSecs === undefined ? 'none (empty)' : `${s.backlog.oldestAgeSecs} s old`],
    ])));
    const m = s.mover;
    parts.push(section('Storage mover', 'storage-mover', m ? facts('storage-mover-facts', [
      ['Uploaded', m.uploaded],
      ['Already stored by another node', m.alreadyStored],
      ['Deleted', m.deleted],
      ['Failures', m.failures],
      ['Last error', m.lastError || 'none'],
      ['Object store reachable', yesNo(m.objectStoreReachable)],
      ['Redundancy', m.redundancy],
    ]) : el('p', { className: 'error' }, `The storage mover does not answer: ${s.moverError || 'no report'}`)));
  } else {
    parts.push(section('Eventual queue', 'storage-backlog',
      el('p', { className: 'muted', id: 'storage-no-queue' }, 'This chain has none: a deploy is stored in its place before it is acknowledged, nothing waits for the storage mover.')));
  }
  return parts;
}

async function storagePage() {
  const status = statusLine('storage-status');
  status.set('Loading…');
  const summary = el('div', { id: 'storage-summary', className: 'cards' });
  const gcResult = el('div', { id: 'storage-gc-result', 'aria-live': 'polite' });
  const gcButton = el('button', { type: 'button', id: 'storage-gc' }, 'Run garbage collection');
  gcButton.addEventListener('click', async () => {
    gcButton.disabled = true;
    gcResult.replaceChildren(el('p', { className: 'muted' }, 'Collecting…'));
    const started = performance.now();
    try {
      const r = await api('POST', '/api/system/storage/gc');
      gcResult.replaceChildren(
        el('p', { className: 'ok' }, `Garbage collection done in ${Math.round(performance.now() - started)} ms.`),
        facts('storage-gc-facts', [
          ['Binaries removed', r.binariesRemoved],
          ['Orphan files removed', r.orphanFilesRemoved],
          ['Space freed', bytes(r.bytesFreed)],
          ['Expired tokens removed', r.expiredTokensRemoved],
        ]));
      await load();
    } catch (e) {
      gcResult.replaceChildren(el('p', { className: 'error', role: 'alert' }, e.message));
    } finally {
      gcButton.disabled = false;
    }
  });
  show(el('div', { className: 'admin-page' },
    el('h1', {}, 'Storage'),
    el('p', { className: 'muted' }, `This node's binary store (etc/binarystore.xml); refreshed every ${REFRESH_MS / 1000} s.`),
    status, summary,
    section('Garbage collection', 'storage-gc-section',
      el('p', { className: 'muted' }, 'Deletes the binaries no file references any more (older than the grace period), files without a record, and expired tokens. It also runs by itself.'),
      el('p', {}, gcButton), gcResult)));
  const load = async () => {
    try {
      const s = await api('GET', '/api/system/storage');
      summary.replaceChildren(...draw(s));
      status.set(`Updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      status.set(e.message, true);
    }
  };
  await load();
  refreshEvery(load);
}

export const pages = [
  { path: '/admin/storage', title: 'Storage', group: 'Administration', admin: true, render: storagePage,
    summary: 'the binary store chain, cache, eventual queue backlog and mover; garbage collection.' },
];
