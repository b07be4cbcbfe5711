// arca's web UI: plain DOM ES modules, no build step. Every action is a call of the REST API
// (same endpoints, same authorization); the session cookie authenticates it and unsafe calls
// carry the session's CSRF token. Nothing from the server is ever inserted as markup.
//
// Each page module exports `pages`: [{path, title, group, admin, render(rest), summary}];
// `#/path` shows a page, `#/path/rest…` gives it `rest` (e.g. a folder to browse).
import { $, api, base, el, show, stopRefresh, session } from './lib.js';
import * as ha from './ha.js';
import * as licenses from './licenses.js';
import * as general from './general.js';
import * as logs from './logs.js';
import * as adminRepos from './admin-repos.js';
import * as adminSecurity from './admin-security.js';
import * as tokens from './tokens.js';
import * as adminStorage from './admin-storage.js';
import * as browse from './browse.js';
import * as search from './search.js';

const PAGE_MODULES = [ha, licenses, general, logs, adminRepos, adminSecurity, tokens, adminStorage, browse, search];
const PAGES = PAGE_MODULES.flatMap((m) => m.pages);
const GROUPS = ['Artifacts', 'Administration'];

// ------------------------------------------------------------------ session

function loginPage(message) {
  stopRefresh();
  session.me = null;
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

// " · Enterprise license (valid through …)": the guide's license indicator at the bottom of the page
async function licenseText(self) {
  if (!self.licenseHash) return ' · no license';
  try {
    const held = (await api('GET', '/api/system/licenses')).find((l) => l.licenseHash === self.licenseHash);
    if (held) return ` · ${held.type} license (valid through ${held.validThrough})`;
  } catch (_) {
    // the pool is unreadable: say what the node table knows
  }
  return ` · licensed (${self.licenseHash.slice(0, 12)}…)`;
}

async function refreshStatus() {
  const { me } = session;
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
        else footer += await licenseText(self);
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

// ------------------------------------------------------------------ navigation

function allowed(page) {
  return !page.admin || (session.me && session.me.admin);
}

// The header's one row: the first group's pages as links, every other group as a menu (a <details>, closed again
// by route()), so every page keeps the full width.
function drawNav() {
  const nav = $('nav');
  nav.replaceChildren(...GROUPS.map((group, index) => {
    const links = PAGES.filter((p) => p.group === group && allowed(p) && !p.hidden)
      .map((p) => el('a', { href: `#${p.path}` }, p.title));
    if (!links.length) return null;
    if (index === 0) return el('div', { className: 'nav-group', role: 'group', 'aria-label': group }, links);
    return el('details', { className: 'nav-menu' },
      el('summary', {}, group),
      el('div', { className: 'nav-menu-items', role: 'group', 'aria-label': group }, links));
  }).filter(Boolean));
  nav.hidden = false;
}

function homePage() {
  const { me } = session;
  const sections = GROUPS.map((group) => {
    const items = PAGES.filter((p) => p.group === group && allowed(p) && !p.hidden)
      .map((p) => el('li', {}, el('a', { href: `#${p.path}` }, p.title), p.summary ? `: ${p.summary}` : ''));
    return items.length ? [el('h2', {}, group), el('ul', {}, items)] : null;
  }).filter(Boolean);
  show(
    el('h1', {}, `Welcome, ${me.name}`),
    ...(sections.length ? sections.flat() : [el('p', { className: 'muted' }, 'The REST API serves everything you may read under ', el('code', {}, `${base}/`), '.')]));
}

// the page for `#/path[/rest]`: the longest registered path that is the hash or a prefix of it
function pageFor(hash) {
  let best = null;
  for (const p of PAGES) {
    if ((hash === p.path || hash.startsWith(`${p.path}/`)) && (!best || p.path.length > best.path.length)) best = p;
  }
  return best;
}

async function route() {
  if (!session.me) return;
  stopRefresh();
  const hash = location.hash.replace(/^#/, '') || '/';
  const page = pageFor(hash);
  for (const menu of document.querySelectorAll('#nav details')) menu.open = false;
  for (const link of document.querySelectorAll('#nav a')) {
    if (page && link.getAttribute('href') === `#${page.path}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  for (const menu of document.querySelectorAll('#nav details')) menu.classList.toggle('current', Boolean(menu.querySelector('a[aria-current]')));
  document.title = page ? `${page.title} · arca` : 'arca';
  if (page && allowed(page)) {
    const rest = hash.slice(page.path.length).replace(/^\//, '');
    try {
      await page.render(decodeURIComponent(rest));
    } catch (e) {
      if (e.status === 401) {
        loginPage('Your session has ended: log in again.');
        return;
      }
      show(el('h1', {}, page.title), el('p', { className: 'error', role: 'alert' }, e.message));
    }
  } else {
    homePage();
  }
  // the page's start for keyboard and screen reader users, without scrolling the header away
  $('main').focus({ preventScroll: true });
}

async function start() {
  try {
    session.me = await api('GET', '/ui/auth/current');
  } catch (e) {
    loginPage(e.status === 401 ? '' : e.message);
    return;
  }
  $('who-name').textContent = session.me.name;
  $('who').hidden = false;
  drawNav();
  await refreshStatus();
  await route();
}

window.addEventListener('hashchange', route);
$('logout').addEventListener('click', logout);
start();
