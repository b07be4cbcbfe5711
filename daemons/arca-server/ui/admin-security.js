// Administration → Users, Groups, Permissions (docs/security.md): lists with a filter, and the
// forms of `/api/security/users/{name}`, `/api/security/groups/{name}` and
// `/api/v2/security/permissions/{name}`. Passwords are write-only: typed, sent once, cleared.
//
// #/admin/users | groups | permissions            the list
// #/admin/users/new, #/admin/users/edit/{name}    a form (the same for groups and permissions)
import { api, el, show, session } from './lib.js';
import {
  bigList, checkField, confirmDialog, datalist, filterBox, formError, linkButton, setFlash, splitList, takeFlash,
  textField, textareaField,
} from './admin-kit.js';

const enc = encodeURIComponent;

// ------------------------------------------------------------------ a list of names

// The list page of one kind: names from one GET (no call per row), filter, edit links, delete.
async function namesPage(kind) {
  const flash = el('p', { className: 'ok', id: `${kind.id}-flash`, role: 'status' }, takeFlash());
  const error = formError(`${kind.id}-error`);
  let text = '';
  const list = bigList(`${kind.id}-table`, kind.title, ['Name', 'Actions'], (item) =>
    el('tr', { 'data-name': item.name },
      el('td', {}, el('a', { href: `#${kind.path}/edit/${enc(item.name)}` }, item.name)),
      el('td', {}, kind.fixed && kind.fixed(item.name) ? el('span', { className: 'muted' }, kind.fixed(item.name)) : el('button', {
        type: 'button', className: 'secondary small', 'data-delete': item.name, 'aria-label': `Delete ${kind.noun} ${item.name}`,
        onclick: () => remove(item),
      }, 'Delete'))), kind.plural);
  const filter = filterBox(`${kind.id}-filter`, 'Filter', 'name', (t) => {
    text = t;
    list.filter((i) => !text || i.search.includes(text));
  });
  async function remove(item) {
    if (!await confirmDialog(`Delete ${kind.noun} '${item.name}'?${kind.deleteNote ? ` ${kind.deleteNote}` : ''}`)) return;
    error.set('');
    try {
      flash.textContent = await api('DELETE', `${kind.api}/${enc(item.name)}`);
      list.remove(item);
      list.filter((i) => !text || i.search.includes(text));
    } catch (e) {
      error.set(e.message);
    }
  }
  show(el('div', { className: 'admin-page' },
    el('h1', {}, kind.title),
    kind.intro ? el('p', { className: 'muted' }, kind.intro) : null,
    el('p', { className: 'actions' }, linkButton(`#${kind.path}/new`, `New ${kind.noun}`, { id: `${kind.id}-new` })),
    flash, error, el('div', { className: 'filters' }, filter.row), list.wrap));
  const all = await api('GET', kind.api);
  for (const i of all) i.search = i.name.toLowerCase();
  list.set(all);
}

// An "Add" button: the entry typed in `source` joins the one-per-line list `list` (once).
function addToListButton(id, source, list) {
  return el('button', { type: 'button', className: 'secondary', id, onclick: () => {
    const entry = source.input.value.trim();
    if (entry && !splitList(list.input.value).includes(entry)) list.input.value = [...splitList(list.input.value), entry].join('\n');
    source.input.value = '';
  } }, 'Add');
}

// The frame of a form: crumbs, title, fields, error line, Save/Cancel; `save(name)` returns the
// API's message. The name field is read-only once the entry exists.
function formPage(kind, name, fields, save, extra) {
  const creating = name === null;
  const error = formError(`${kind.form}-error`);
  const nameField = textField(`${kind.form}-name`, 'Name', {
    value: name || '', readonly: !creating, autocomplete: 'off',
    hint: creating ? "1–64 letters, digits, '.', '_', '-', '@' or '+', not starting with '.'" : "a name can't change",
  });
  const submit = el('button', { type: 'submit', id: `${kind.form}-save` }, creating ? 'Create' : 'Save');
  const form = el('form', {
    id: `${kind.form}-form`, className: 'admin-form', novalidate: true, 'aria-labelledby': `${kind.form}-title`,
    onsubmit: async (event) => {
      event.preventDefault();
      error.set('');
      const n = nameField.input.value.trim();
      if (!n) {
        error.set(`Give the ${kind.noun} a name.`);
        nameField.input.focus();
        return;
      }
      submit.disabled = true;
      try {
        const message = await save(n, creating);
        setFlash(typeof message === 'string' && message ? message : `${kind.noun} '${n}' saved`);
        location.hash = `#${kind.path}`;
      } catch (e) {
        error.set(e.message);
        submit.disabled = false;
      }
    },
  },
  el('div', { className: 'form-grid' }, el('fieldset', {}, el('legend', {}, kind.legend), nameField.row, fields), extra || null),
  error,
  el('p', { className: 'actions' }, submit, linkButton(`#${kind.path}`, 'Cancel', { className: 'button secondary' })));
  show(el('div', { className: 'admin-page' },
    el('p', { className: 'crumbs' }, el('a', { href: `#${kind.path}` }, kind.title), ' / ', creating ? `new ${kind.noun}` : name),
    el('h1', { id: `${kind.form}-title` }, creating ? `New ${kind.noun}` : `${kind.noun[0].toUpperCase()}${kind.noun.slice(1)} ${name}`),
    form));
  return form;
}

function router(kind, formFn) {
  return async (rest) => {
    const [action, ...arg] = rest.split('/');
    if (action === 'new') return formFn(null);
    if (action === 'edit' && arg.length) return formFn(arg.join('/'));
    return namesPage(kind);
  };
}

// ------------------------------------------------------------------ users

const USERS = {
  id: 'users', path: '/admin/users', api: '/api/security/users', title: 'Users', noun: 'user', form: 'user', plural: 'users',
  legend: 'User', deleteNote: 'Its memberships, grants, tokens and sessions are removed too.',
  fixed: (n) => (session.me && n === session.me.name ? 'you' : null),
};

async function userForm(name) {
  const creating = name === null;
  const [user, groups] = await Promise.all([
    creating ? Promise.resolve({ groups: [] }) : api('GET', `${USERS.api}/${enc(name)}`),
    api('GET', '/api/security/groups'),
  ]);
  const email = textField('user-email', 'Email', { type: 'email', value: user.email || '', autocomplete: 'off' });
  const password = textField('user-password', 'Password', {
    type: 'password', autocomplete: 'new-password',
    hint: creating ? 'required; stored as a hash, never shown' : 'leave empty to keep the password; a new one revokes the user\'s tokens and sessions',
  });
  const admin = checkField('user-admin', 'Administrator', user.admin);
  const disabled = checkField('user-disabled', 'Disabled (cannot log in; its tokens and sessions stop working)', user.disabled);
  const mine = new Set(user.groups || []);
  const boxes = groups.map((g) => checkField(`user-group-${g.name}`, g.name, mine.has(g.name)));
  for (const b of boxes) b.input.dataset.group = b.input.id.slice('user-group-'.length);
  const groupSet = el('fieldset', { id: 'user-groups' }, el('legend', {}, 'Groups'),
    creating ? el('p', { className: 'muted' }, 'None ticked: the auto-join groups (e.g. readers).') : null,
    boxes.length ? boxes.map((b) => b.row) : el('p', { className: 'muted' }, 'There are no groups.'));
  formPage(USERS, name, [email.row, password.row, admin.row, disabled.row], async (n, isNew) => {
    // PUT creates, or replaces email/admin/disabled; an absent password keeps the password
    const body = { email: email.input.value.trim(), admin: admin.input.checked, disabled: disabled.input.checked };
    if (password.input.value) body.password = password.input.value;
    const ticked = boxes.filter((b) => b.input.checked).map((b) => b.input.dataset.group);
    if (!isNew || ticked.length) body.groups = ticked;
    try {
      return await api('PUT', `${USERS.api}/${enc(n)}`, body);
    } finally {
      password.input.value = '';
    }
  }, groupSet);
}

// ------------------------------------------------------------------ groups

const GROUPS = {
  id: 'groups', path: '/admin/groups', api: '/api/security/groups', title: 'Groups', noun: 'group', form: 'group', plural: 'groups',
  legend: 'Group', deleteNote: 'Its members stay; its grants are removed.',
};

async function groupForm(name) {
  const creating = name === null;
  const [group, users] = await Promise.all([
    creating ? Promise.resolve({ userNames: [] }) : api('GET', `${GROUPS.api}/${enc(name)}`),
    api('GET', '/api/security/users'),
  ]);
  const description = textField('group-description', 'Description', { value: group.description || '' });
  const autoJoin = checkField('group-autoJoin', 'Auto-join (new users created without groups join it)', group.autoJoin);
  const adminPrivileges = checkField('group-adminPrivileges', 'Admin privileges (its members are administrators)', group.adminPrivileges);
  const members = textareaField('group-members', 'Members', (group.userNames || []).join('\n'),
    'user names, one per line (or separated by commas); each must exist', 5);
  const add = textField('group-member-add', 'Add a member', { list: 'group-user-names' });
  const addButton = addToListButton('group-member-add-button', add, members);
  formPage(GROUPS, name, [description.row, autoJoin.row, adminPrivileges.row],
  (n) => api('PUT', `${GROUPS.api}/${enc(n)}`, {
    description: description.input.value,
    autoJoin: autoJoin.input.checked,
    adminPrivileges: adminPrivileges.input.checked,
    userNames: splitList(members.input.value),
  }), el('fieldset', {}, el('legend', {}, 'Members'), members.row,
    el('div', { className: 'inline' }, add.row, addButton), datalist('group-user-names', users.map((u) => u.name))));
}

// ------------------------------------------------------------------ permissions

const PERMISSIONS = {
  id: 'permissions', path: '/admin/permissions', api: '/api/v2/security/permissions', title: 'Permissions',
  noun: 'permission target', form: 'permission', plural: 'permission targets', legend: 'Permission target',
  intro: 'A permission target gives users and groups actions on repositories and paths.',
};
// in the order of implication: each implies the ones before it
const ACTIONS = ['read', 'annotate', 'write', 'delete', 'manage'];
const ACTION_TITLES = { read: 'Read', annotate: 'Annotate', write: 'Deploy', delete: 'Delete/Overwrite', manage: 'Manage' };

async function permissionForm(name) {
  const creating = name === null;
  const [target, repos, users, groups] = await Promise.all([
    creating ? Promise.resolve({ repo: { repositories: [], 'include-patterns': ['**'], 'exclude-patterns': [], actions: {} } })
      : api('GET', `${PERMISSIONS.api}/${enc(name)}`),
    api('GET', '/api/repositories'),
    api('GET', '/api/security/users'),
    api('GET', '/api/security/groups'),
  ]);
  const repo = target.repo || {};
  const repositories = textareaField('permission-repositories', 'Repositories', (repo.repositories || []).join('\n'),
    'one per line: keys, patterns (libs-*), ANY, ANY LOCAL, ANY REMOTE or ANY VIRTUAL', 4);
  const addRepo = textField('permission-repo-add', 'Add a repository', { list: 'permission-repo-keys' });
  const addRepoButton = addToListButton('permission-repo-add-button', addRepo, repositories);
  const includes = textareaField('permission-includes', 'Include patterns', (repo['include-patterns'] || []).join('\n'),
    'Ant path patterns, one per line; empty: ** (everything)', 2);
  const excludes = textareaField('permission-excludes', 'Exclude patterns', (repo['exclude-patterns'] || []).join('\n'),
    'an excluded path is not covered even when included', 2);

  // one row per user or group: its actions as checkboxes
  const grants = [];
  const actions = repo.actions || {};
  for (const [who, list] of Object.entries(actions.users || {})) grants.push({ kind: 'user', who, actions: new Set(list) });
  for (const [who, list] of Object.entries(actions.groups || {})) grants.push({ kind: 'group', who, actions: new Set(list) });
  const body = el('tbody', { id: 'permission-grants' });
  const drawGrants = () => {
    body.replaceChildren(...grants.map((g, i) => el('tr', { 'data-grant': `${g.kind}:${g.who}` },
      el('th', { scope: 'row' }, g.who),
      el('td', {}, g.kind),
      ACTIONS.map((a, level) => el('td', { className: 'center' }, el('input', {
        type: 'checkbox', checked: g.actions.has(a), 'aria-label': `${ACTION_TITLES[a]} for ${g.kind} ${g.who}`, 'data-action': a,
        onchange: (e) => {
          // an action implies those before it; taking one away takes those after it
          ACTIONS.forEach((b, l) => {
            if (e.target.checked && l <= level) g.actions.add(b);
            if (!e.target.checked && l >= level) g.actions.delete(b);
          });
          drawGrants();
          body.querySelector(`tr[data-grant="${CSS.escape(`${g.kind}:${g.who}`)}"] input[data-action="${a}"]`).focus();
        },
      }))),
      el('td', {}, el('button', { type: 'button', className: 'secondary small', 'aria-label': `Remove ${g.kind} ${g.who}`,
        onclick: () => { grants.splice(i, 1); drawGrants(); } }, 'Remove')))));
    if (!grants.length) body.append(el('tr', {}, el('td', { colspan: ACTIONS.length + 3, className: 'muted' }, 'Nobody is granted anything yet: add a user or a group.')));
  };
  drawGrants();
  const grantError = el('p', { className: 'error', role: 'alert', id: 'permission-grant-error' }, '');
  const adder = (kind, listId) => {
    const field = textField(`permission-add-${kind}`, `Add a ${kind}`, { list: listId });
    const button = el('button', { type: 'button', className: 'secondary', id: `permission-add-${kind}-button`, onclick: () => {
      const who = field.input.value.trim();
      grantError.textContent = '';
      if (!who) return;
      if (grants.some((g) => g.kind === kind && g.who === who)) {
        grantError.textContent = `The ${kind} ${who} is in the list already.`;
        return;
      }
      grants.push({ kind, who, actions: new Set(['read']) });
      field.input.value = '';
      drawGrants();
    } }, `Add ${kind}`);
    return el('div', { className: 'inline' }, field.row, button);
  };
  const grantSet = el('fieldset', { className: 'wide' }, el('legend', {}, 'Actions'),
    el('p', { className: 'muted' }, 'Each action implies the ones to its left (Delete/Overwrite ⊃ Deploy ⊃ Annotate ⊃ Read).'),
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Granted actions' },
      el('table', { id: 'permission-grants-table' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'User or group'), el('th', { scope: 'col' }, 'Kind'),
          ACTIONS.map((a) => el('th', { scope: 'col', className: 'center' }, ACTION_TITLES[a])),
          el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'Remove')))),
        body)),
    el('div', { className: 'adders' }, adder('user', 'permission-user-names'), adder('group', 'permission-group-names')),
    grantError,
    datalist('permission-user-names', users.map((u) => u.name)),
    datalist('permission-group-names', groups.map((g) => g.name)));

  formPage(PERMISSIONS, name, [repositories.row, el('div', { className: 'inline' }, addRepo.row, addRepoButton),
    datalist('permission-repo-keys', ['ANY', 'ANY LOCAL', 'ANY REMOTE', 'ANY VIRTUAL', ...repos.map((r) => r.key)])],
  (n, isNew) => {
    const section = (kind) => Object.fromEntries(grants.filter((g) => g.kind === kind)
      .map((g) => [g.who, ACTIONS.filter((a) => g.actions.has(a))]));
    const doc = {
      name: n,
      repo: {
        repositories: splitList(repositories.input.value),
        'include-patterns': splitList(includes.input.value),
        'exclude-patterns': splitList(excludes.input.value),
        actions: { users: section('user'), groups: section('group') },
      },
    };
    // POST only creates (the API refuses an existing name), PUT replaces
    return api(isNew ? 'POST' : 'PUT', `${PERMISSIONS.api}/${enc(n)}`, doc);
  }, [el('fieldset', {}, el('legend', {}, 'Paths'), includes.row, excludes.row), grantSet]);
}

export const pages = [
  { path: USERS.path, title: 'Users', group: 'Administration', admin: true, render: router(USERS, userForm),
    summary: 'users: create, edit (administrator, groups, password), delete.' },
  { path: GROUPS.path, title: 'Groups', group: 'Administration', admin: true, render: router(GROUPS, groupForm),
    summary: 'groups and their members.' },
  { path: PERMISSIONS.path, title: 'Permissions', group: 'Administration', admin: true, render: router(PERMISSIONS, permissionForm),
    summary: 'permission targets: repositories, paths and the actions of users and groups.' },
];
