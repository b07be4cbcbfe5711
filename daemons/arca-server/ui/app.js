// arca's web UI: one page, plain DOM, no build step. Every action is a call of the REST API
// (same endpoints, same authorization); the session cookie authenticates it and unsafe calls
// carry the session's CSRF token. Nothing from the server is ever inserted as markup.
'use strict';

(() => {
  // the context path: this page is served at {context}/ui/
  const base = location.pathname.slice(0, location.pathname.lastIndexOf('/ui/'));
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 5000;
  let me = null;
  let timer = null;

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)ARCA_CSRF=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : '';
  }

  // A REST call; resolves to the parsed answer, rejects with the error envelope's message.
  async function api(method, path, body) {
    // X-Requested-With: a 401 comes without the Basic challenge, so the browser shows no dialog
    const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
    const options = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken();
    const response = await fetch(base + path, options);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = text;
    }
    if (!response.ok) {
      const message = data && data.errors && data.errors[0] ? data.errors[0].message : `${response.status} ${response.statusText}`;
      const error = new Error(message);
      error.status = response.status;
      error.data = data;
      throw error;
    }
    return data;
  }

  // el('tag', {attr: value, onclick: fn}, ...children): text children are text nodes, never markup
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'className') node.className = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(...nodes) {
    const main = $('main');
    main.replaceChildren(...nodes);
  }

  function stopRefresh() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  // ------------------------------------------------------------------ session

  function loginPage(message) {
    stopRefresh();
    me = null;
    $('nav').hidden = true;
    $('who').hidden = true;
    const error = el('p', { className: 'error', role: 'alert', id: 'login-error' }, message || '');
    const user = el('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
    const password = el('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const form = el('form', { className: 'login', 'aria-labelledby': 'login-title', onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      try {
        await api('POST', '/ui/auth/login', { user: user.value, password: password.value });
        await start();
      } catch (e) {
        error.textContent = e.message;
        password.select();
      }
    } },
    el('h1', { id: 'login-title' }, 'Log in to arca'),
    el('label', { for: 'login-user' }, 'User', user),
    el('label', { for: 'login-password' }, 'Password', password),
    el('button', { type: 'submit', id: 'login-submit' }, 'Log in'),
    error);
    show(form);
    user.focus();
  }

  async function logout() {
    try {
      await api('POST', '/ui/auth/logout');
    } catch (_) {
      // the session may be gone already: the login page either way
    }
    location.hash = '#/';
    loginPage('You are logged out.');
  }

  // ------------------------------------------------------------------ status: banner and footer

  async function refreshStatus() {
    const banner = $('banner');
    let problem = '';
    try {
      await api('GET', '/api/v1/system/readiness');
    } catch (e) {
      problem = `This node is not ready: ${e.data && e.data.message ? e.data.message : e.message}`;
    }
    let footer = me ? `Node ${me.nodeId}` : '';
    if (me && me.admin) {
      try {
        const nodes = await api('GET', '/api/system/ha/nodes');
        const self = nodes.find((n) => n.id === me.nodeId);
        if (self) {
          if (self.role === 'STANDALONE') footer += ' · single node (no license needed)';
          else footer += self.licenseHash ? ` · licensed (${self.licenseHash.slice(0, 12)}…)` : ' · no license';
          if (self.restartRequired && self.restartRequired.length) {
            problem = problem || `A restart is pending: ${self.restartRequired.join(', ')} changed.`;
          }
        }
      } catch (_) {
        // a single node without the HA table: the node id alone
      }
    }
    banner.textContent = problem;
    banner.hidden = !problem;
    $('footer').textContent = footer;
  }

  // ------------------------------------------------------------------ pages

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
    const status = el('p', { className: 'muted', 'aria-live': 'polite', id: 'ha-status' }, 'Loading…');
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
        status.textContent = `${nodes.length} node(s), updated ${new Date().toLocaleTimeString()}`;
      } catch (e) {
        status.textContent = e.message;
      }
    };
    await load();
    timer = setInterval(load, REFRESH_MS);
  }

  const LICENSE_COLUMNS = [
    ['License Hash', (l) => l.licenseHash],
    ['Licensed To', (l) => l.licensedTo],
    ['Valid Through', (l) => l.validThrough + (l.expired ? ' (expired)' : '')],
    ['License Type', (l) => l.type],
    ['Node ID', (l) => l.nodeId],
    ['Node URL', (l) => l.nodeUrl],
  ];

  // The guide's Cluster License Management: the pool, New (a batch of keys), Delete.
  async function licensesPage() {
    const status = el('p', { className: 'muted', 'aria-live': 'polite', id: 'licenses-status' }, 'Loading…');
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
      status.textContent = `${pool.length} license(s), updated ${new Date().toLocaleTimeString()}`;
    };
    const load = async () => {
      try {
        pool = await api('GET', '/api/system/licenses');
        draw();
      } catch (e) {
        status.textContent = e.message;
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
        el('label', { for: 'licenses-keys' }, 'License keys (one per line, or separated by spaces or semicolons)'),
        el('div', {}, keys),
        el('button', { type: 'submit', id: 'licenses-save' }, 'Save')),
      result);
    filter.addEventListener('input', draw);
    await load();
    timer = setInterval(load, REFRESH_MS);
  }

  function homePage() {
    const items = [];
    if (me.admin) {
      items.push(el('li', {}, el('a', { href: '#/admin/ha' }, 'High Availability'), ': the nodes of the cluster, their state, heartbeat, version and license.'));
      items.push(el('li', {}, el('a', { href: '#/admin/licenses' }, 'Licenses'), ': the license pool — add a batch of keys, delete.'));
    }
    show(
      el('h1', {}, `Welcome, ${me.name}`),
      items.length ? el('ul', {}, items) : el('p', { className: 'muted' }, 'The REST API serves everything you may read under ', el('code', {}, `${base}/`), '.'));
  }

  async function route() {
    if (!me) return;
    stopRefresh();
    const page = location.hash.replace(/^#/, '') || '/';
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.getAttribute('href') === `#${page}`) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (page === '/admin/ha' && me.admin) await haPage();
    else if (page === '/admin/licenses' && me.admin) await licensesPage();
    else homePage();
    $('main').focus();
  }

  async function start() {
    try {
      me = await api('GET', '/ui/auth/current');
    } catch (e) {
      loginPage(e.status === 401 ? '' : e.message);
      return;
    }
    $('who-name').textContent = me.name;
    $('who').hidden = false;
    $('nav').hidden = !me.admin;
    await refreshStatus();
    await route();
  }

  window.addEventListener('hashchange', route);
  document.addEventListener('DOMContentLoaded', () => {
    $('logout').addEventListener('click', logout);
    start();
  });
})();
