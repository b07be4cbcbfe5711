// Administration → General: the Custom URL Base (arca.url.base), the HA guide's "Set the URL
// Base". GET/PUT /api/system/configuration/baseUrl: the server validates (its message is shown
// next to the field), writes system.properties on the config owner, whose config sync shares it;
// the page shows where the change has got to, refreshed every 5 s.
import { api, el, show, refreshEvery, REFRESH_MS, statusLine } from './lib.js';

const PATH = '/api/system/configuration/baseUrl';

// "2026-11-26T05:10:00.123Z" → the browser's local date and time
function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// One row of the facts list: a term and its description (text or nodes, nested lists too).
function fact(id, term, ...description) {
  return [el('dt', {}, term), el('dd', { id: `general-${id}` }, ...description.flat(Infinity))];
}

function code(text) {
  return el('code', { className: 'general-value' }, text);
}

// The facts about the URL base, from GET: what this node has, uses, and how far a change got.
function facts(v) {
  const rows = [
    fact('configured', 'Configured', v.urlBase ? code(v.urlBase) : el('span', { className: 'muted' }, 'not set'),
      v.urlBaseError ? el('span', { className: 'error' }, ` (${v.urlBaseError})`) : null),
    fact('applied', 'In use on this node', v.appliedUrlBase ? code(v.appliedUrlBase)
      : el('span', { className: 'muted' }, "not set: each request's Host and X-Forwarded-* headers decide")),
    fact('effective', 'Base URL of this page', code(v.effectiveBaseUrl)),
  ];
  if (v.ha) {
    rows.push(fact('owner', 'Config owner', v.configOwner ? `node ${v.configOwner}`
      : el('span', { className: 'error' }, 'none right now (the nodes are electing one)')));
  }
  const c = v.lastChange;
  rows.push(fact('last-change', 'Last change', c
    ? [c.urlBase ? ['set to ', code(c.urlBase)] : 'cleared', ` by ${c.user} at ${when(c.at)}, written by node ${c.writtenBy}`,
      c.receivedBy !== c.writtenBy ? ` (requested on node ${c.receivedBy})` : '']
    : el('span', { className: 'muted' }, 'none through this page or the REST API')));
  if (v.ha && v.nodes) {
    const behind = v.nodes.filter((n) => !n.inSync).map((n) => n.id);
    const restart = v.nodes.filter((n) => n.restartRequired).map((n) => n.id);
    rows.push(fact('propagation', 'Propagation', v.propagationPending
      ? el('span', { className: 'general-pending', id: 'general-propagation-state' },
        behind.length ? `pending on node(s) ${behind.join(', ')}` : 'pending: the config owner publishes it')
      : el('span', { className: 'general-done', id: 'general-propagation-state' },
        `every node has it (system.properties version ${v.cluster.version}, stored by node ${v.cluster.storedBy})`)));
    rows.push(fact('restart', 'Restart', restart.length
      ? el('span', { className: 'general-pending', id: 'general-restart-state' },
        `required on node(s) ${restart.join(', ')}: other keys of system.properties changed too`)
      : el('span', { className: 'general-done', id: 'general-restart-state' }, 'not required: the URL base applies at once')));
  }
  return rows.flat();
}

async function generalPage() {
  const status = statusLine('general-status');
  const list = el('dl', { className: 'general-facts', id: 'general-facts' });
  const error = el('p', { className: 'error general-error', id: 'general-url-error', role: 'alert' }, '');
  const input = el('input', {
    id: 'general-url', name: 'urlBase', type: 'text', inputmode: 'url', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'https://repo.example.com/artifactory', 'aria-describedby': 'general-url-hint general-url-error',
  });
  const save = el('button', { type: 'submit', id: 'general-save' }, 'Save');
  const clear = el('button', { type: 'button', id: 'general-clear', className: 'secondary' }, 'Clear');
  let loaded = false;

  const load = async () => {
    try {
      const v = await api('GET', PATH);
      list.replaceChildren(...facts(v));
      // the field starts with the current value; later refreshes leave what is being typed alone
      if (!loaded) input.value = v.urlBase || '';
      loaded = true;
      if (status.classList.contains('error')) status.set('');
    } catch (e) {
      status.set(e.message, true);
    }
  };

  const setError = (message) => {
    error.textContent = message || '';
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };

  const submit = async (value) => {
    setError('');
    status.set('Saving…');
    save.disabled = true;
    clear.disabled = true;
    try {
      const answer = await api('PUT', PATH, value);
      status.set(typeof answer === 'string' ? answer : 'Saved.');
      status.className = 'ok';
      loaded = false;
      await load();
    } catch (e) {
      // the REST API's own message, next to the field
      status.set('');
      setError(e.message);
      input.focus();
    } finally {
      save.disabled = false;
      clear.disabled = false;
    }
  };

  const form = el('form', { id: 'general-form', className: 'general-form', novalidate: true, onsubmit: (event) => {
    event.preventDefault();
    submit(input.value);
  } },
  el('div', { className: 'general-field' },
    el('label', { for: 'general-url' }, 'Custom URL Base'),
    input,
    el('small', { id: 'general-url-hint', className: 'muted' },
      'E.g. https://repo.example.com/artifactory: an absolute http:// or https:// URL with the context path, ' +
      'no query, fragment or user name. Empty clears it.'),
    error),
  el('div', { className: 'general-actions' }, save, clear));
  clear.addEventListener('click', () => {
    input.value = '';
    submit('');
  });
  input.addEventListener('input', () => {
    if (error.textContent) setError('');
  });

  show(
    el('h1', {}, 'General'),
    el('section', { className: 'general', 'aria-labelledby': 'general-url-title' },
      el('h2', { id: 'general-url-title' }, 'Custom URL Base'),
      el('p', { className: 'muted general-intro' },
        'The URL clients reach arca at (in a cluster, the load balancer\'s); the REST API builds uri and downloadUri ',
        'from it. Saved into system.properties on the config owner, shared with every node by arca-config-sync, ',
        `applied without a restart. Refreshed every ${REFRESH_MS / 1000} s.`),
      form,
      status,
      el('h3', { id: 'general-state-title' }, 'State'),
      list));
  await load();
  refreshEvery(load);
}

export const pages = [
  { path: '/admin/general', title: 'General', group: 'Administration', admin: true, render: generalPage,
    summary: 'the Custom URL Base (the load balancer\'s URL) of the whole cluster.' },
];
