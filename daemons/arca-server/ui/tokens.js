// Access tokens (`/api/security/token`, docs/security.md): create one (user, scope, lifetime),
// list, revoke. A new token is shown once, in a read-only field with a copy button; it is never
// put in the page's markup and is gone once the page is left. Any user may come here: the API
// lists and creates only the caller's own tokens unless the caller is an administrator.
import { api, el, show, session } from './lib.js';
import {
  bigList, confirmDialog, datalist, filterBox, formError, formatTime, numberField, numberValue, textField,
} from './admin-kit.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

async function tokensPage() {
  const admin = session.me && session.me.admin;
  const error = formError('token-error');
  const listError = formError('tokens-error');
  const flash = el('p', { className: 'ok', id: 'tokens-flash', role: 'status' }, '');

  // the form
  const user = textField('token-username', 'User', {
    value: session.me ? session.me.name : '', list: admin ? 'token-user-names' : null, readonly: !admin,
    hint: admin ? 'the user the token acts as' : 'your own tokens (an administrator can create tokens for others)',
  });
  const scope = textField('token-scope', 'Scope', {
    value: 'member-of-groups:*',
    hint: 'member-of-groups:* (all of the user\'s rights), member-of-groups:g1,g2 (only those groups\' grants), applied-permissions/admin',
  });
  const expires = numberField('token-expires', 'Expires in (seconds)', 3600,
    admin ? '0: never expires' : 'at most the server\'s maximum for non-administrators (default one year)');
  const names = datalist('token-user-names', []);
  const submit = el('button', { type: 'submit', id: 'token-create' }, 'Create token');

  // the new token, shown once
  const value = el('input', { id: 'token-value', type: 'text', readonly: true, autocomplete: 'off', spellcheck: 'false', className: 'secret' });
  const copied = el('span', { className: 'muted', id: 'token-copied', 'aria-live': 'polite' }, '');
  const about = el('p', { id: 'token-about' }, '');
  const fresh = el('section', { id: 'token-new', className: 'notice', hidden: true, 'aria-labelledby': 'token-new-title' },
    el('h2', { id: 'token-new-title' }, 'Your new token'),
    el('p', { className: 'warning', id: 'token-warning' }, 'Copy it now: it will not be shown again.'),
    about,
    el('div', { className: 'field' }, el('label', { for: 'token-value' }, 'Access token'),
      el('div', { className: 'inline' }, value,
        el('button', { type: 'button', id: 'token-copy', onclick: () => copy(value, copied) }, 'Copy'),
        el('button', { type: 'button', id: 'token-done', className: 'secondary', onclick: () => forget() }, 'Done'),
        copied)));
  const forget = () => {
    value.value = '';
    copied.textContent = '';
    fresh.hidden = true;
  };

  const form = el('form', {
    id: 'token-form', className: 'admin-form', novalidate: true, 'aria-labelledby': 'token-form-title',
    onsubmit: async (event) => {
      event.preventDefault();
      error.set('');
      forget();
      const params = new URLSearchParams();
      if (admin && user.input.value.trim()) params.set('username', user.input.value.trim());
      if (scope.input.value.trim()) params.set('scope', scope.input.value.trim());
      const secs = numberValue(expires.input);
      if (secs !== undefined) params.set('expires_in', String(secs));
      submit.disabled = true;
      try {
        const answer = await api('POST', '/api/security/token', params.toString(), FORM);
        value.value = answer.access_token;
        about.textContent = `For ${params.get('username') || session.me.name}, scope ${answer.scope}, `
          + (answer.expires_in ? `expires in ${answer.expires_in} s.` : 'never expires.');
        fresh.hidden = false;
        value.focus();
        value.select();
        await load();
      } catch (e) {
        error.set(e.message);
      } finally {
        submit.disabled = false;
      }
    },
  },
  el('h2', { id: 'token-form-title' }, 'New token'),
  el('fieldset', {}, el('legend', { className: 'visually-hidden' }, 'Token'), user.row, scope.row, expires.row),
  names, error, el('p', { className: 'actions' }, submit));

  // the list
  let text = '';
  const list = bigList('tokens-table', 'Access tokens', ['Token ID', 'User', 'Issued', 'Expires', 'Refreshable', 'Actions'], (t) =>
    el('tr', { 'data-token': t.token_id },
      el('td', {}, el('code', {}, t.token_id)),
      el('td', {}, t.subject),
      el('td', {}, formatTime(t.issued_at)),
      el('td', {}, t.expiry ? formatTime(t.expiry) : 'never'),
      el('td', {}, t.refreshable ? 'yes' : 'no'),
      el('td', {}, el('button', {
        type: 'button', className: 'secondary small', 'data-revoke': t.token_id, 'aria-label': `Revoke token ${t.token_id} of ${t.subject}`,
        onclick: () => revoke(t),
      }, 'Revoke'))), 'token(s)');
  const apply = () => list.filter((t) => !text || t.search.includes(text));
  const filter = filterBox('tokens-filter', 'Filter', 'user or token ID', (t) => {
    text = t;
    apply();
  });
  async function revoke(t) {
    if (!await confirmDialog(`Revoke token ${t.token_id} of ${t.subject}? Clients using it are refused at once.`, 'Revoke')) return;
    listError.set('');
    try {
      const answer = await api('DELETE', `/api/security/token/${encodeURIComponent(t.token_id)}`);
      flash.textContent = `${answer && answer.message ? answer.message : 'Token revoked'}: ${t.token_id}`;
      list.remove(t);
      apply();
    } catch (e) {
      listError.set(e.message);
    }
  }
  async function load() {
    const answer = await api('GET', '/api/security/token');
    const tokens = answer.tokens || [];
    tokens.sort((a, b) => b.issued_at - a.issued_at);
    for (const t of tokens) t.search = `${t.token_id} ${t.subject}`.toLowerCase();
    list.set(tokens);
  }

  show(el('div', { className: 'admin-page' },
    el('h1', {}, 'Access tokens'),
    el('p', { className: 'muted' }, 'A token works as a Bearer token or as the password of Basic auth. ',
      admin ? 'As an administrator you see and revoke everyone\'s.' : 'You see and revoke your own.'),
    fresh, form,
    el('h2', {}, admin ? 'Tokens' : 'Your tokens'),
    flash, listError, el('div', { className: 'filters' }, filter.row), list.wrap));
  await load();
  if (admin) {
    const users = await api('GET', '/api/security/users');
    names.replaceChildren(...users.map((u) => el('option', { value: u.name })));
  }
}

// The clipboard API (a secure context: https or loopback), else the selection and execCommand.
async function copy(input, status) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (_) {
    input.select();
    document.execCommand('copy');
  }
  status.textContent = 'Copied.';
}

export const pages = [
  { path: '/admin/tokens', title: 'Access tokens', group: 'Administration', admin: false, render: tokensPage,
    summary: 'create, list and revoke access tokens (yours; an administrator\'s: everyone\'s).' },
];
