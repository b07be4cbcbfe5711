// Administration → High Availability: the HA guide's table of nodes, refreshed every 5 s.
import { api, el, show, refreshEvery, REFRESH_MS, statusLine } from './lib.js';

const COLUMNS = [
  ['ID', (n) => n.id],
  ['Start Time', (n) => n.startTime],
  ['URL', (n) => n.url],
  ['Membership Port', (n) => n.membershipPort],
  ['State', (n) => (n.stale ? 'Unavailable' : n.state)],
  ['Role', (n) => n.role],
  ['Last Heartbeat', (n) => `${n.lastHeartbeat} (${n.heartbeatAgeSecs} s ago)`],
  ['Version', (n) => n.version],
  ['Revision', (n) => n.revision],
  ['Release Date', (n) => n.releaseDate],
  ['License', (n) => (n.licenseHash ? `${n.licenseHash.slice(0, 12)}…` : 'none')],
  ['Restart required', (n) => (n.restartRequired && n.restartRequired.length ? n.restartRequired.join(', ') : 'no')],
];

async function haPage() {
  const status = statusLine('ha-status');
  status.set('Loading…');
  const body = el('tbody', { id: 'ha-rows' });
  show(
    el('h1', {}, 'High Availability'),
    status,
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Cluster nodes' },
      el('table', { id: 'ha-table' },
        el('caption', { className: 'muted' }, `Every node of the cluster; refreshed every ${REFRESH_MS / 1000} s.`),
        el('thead', {}, el('tr', {}, COLUMNS.map(([title]) => el('th', { scope: 'col' }, title)))),
        body)));
  const load = async () => {
    try {
      const nodes = await api('GET', '/api/system/ha/nodes');
      body.replaceChildren(...nodes.map((n) => {
        const available = !n.stale && n.state === 'RUNNING';
        return el('tr', { className: available ? '' : 'unavailable', 'data-node': n.id },
          COLUMNS.map(([title, value]) => {
            const text = value(n);
            const cls = title === 'State' ? (available ? 'state-ok' : 'state-bad') : '';
            return el('td', { className: cls }, text === undefined || text === null ? '' : text);
          }));
      }));
      status.set(`${nodes.length} node(s), updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      status.set(e.message, true);
    }
  };
  await load();
  refreshEvery(load);
}

export const pages = [
  { path: '/admin/ha', title: 'High Availability', group: 'Administration', admin: true, render: haPage,
    summary: 'the nodes of the cluster, their state, heartbeat, version and license.' },
];
