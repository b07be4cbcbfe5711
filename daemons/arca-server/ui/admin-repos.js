// Administration → Repositories: the list (filter, kind), and the form of a local, remote or
// virtual repository (`/api/repositories/{key}`: PUT creates, POST changes what is sent,
// DELETE removes). Every check is the REST API's: its message is shown as it is.
//
// #/admin/repositories                 the list
// #/admin/repositories/new/{rclass}    a new local, remote or virtual repository
// #/admin/repositories/edit/{key}      one repository
import { api, el, show } from './lib.js';
import {
  bigList, checkField, confirmDialog, datalist, filterBox, formError, linkButton, numberField, numberValue,
  selectField, setFlash, takeFlash, textField, textareaField,
} from './admin-kit.js';

const PATH = '/admin/repositories';
const RCLASSES = ['local', 'remote', 'virtual'];
// what the API creates (docs/repositories.md); other types of imported configurations are kept
const PACKAGE_TYPES = ['generic', 'maven'];
const enc = encodeURIComponent;

async function render(rest) {
  const [action, arg] = [rest.split('/')[0], rest.split('/').slice(1).join('/')];
  if (action === 'new' && RCLASSES.includes(arg)) return repoForm(null, arg);
  if (action === 'edit' && arg) return repoForm(arg, null);
  return listPage();
}

// ------------------------------------------------------------------ the list

async function listPage() {
  const flash = el('p', { className: 'ok', id: 'repos-flash', role: 'status' }, takeFlash());
  const error = formError('repos-error');
  let kind = '';
  let text = '';
  const list = bigList('repos-table', 'Repositories', ['Key', 'Kind', 'Package type', 'Description', 'Actions'], (r) =>
    el('tr', { 'data-key': r.key },
      el('td', {}, el('a', { href: `#${PATH}/edit/${enc(r.key)}` }, r.key)),
      el('td', {}, r.type.toLowerCase()),
      el('td', {}, r.packageType),
      el('td', { className: 'wrap' }, r.description || ''),
      el('td', {}, el('button', {
        type: 'button', className: 'secondary small', 'data-delete': r.key, 'aria-label': `Delete repository ${r.key}`,
        onclick: () => remove(r),
      }, 'Delete'))), 'repositories');
  const apply = () => list.filter((r) => (!kind || r.type === kind) && (!text || r.search.includes(text)));
  const filter = filterBox('repos-filter', 'Filter', 'key, description or package type', (t) => {
    text = t;
    apply();
  });
  const kinds = selectField('repos-kind', 'Kind', [['', 'all'], ...RCLASSES.map((k) => [k.toUpperCase(), k])], '');
  kinds.input.addEventListener('change', () => {
    kind = kinds.input.value;
    apply();
  });
  async function remove(r) {
    if (!await confirmDialog(`Delete repository '${r.key}' and everything in it? This cannot be undone.`)) return;
    error.set('');
    try {
      flash.textContent = await api('DELETE', `/api/repositories/${enc(r.key)}`);
      list.remove(r);
      apply();
    } catch (e) {
      error.set(e.message);
    }
  }
  show(el('div', { className: 'admin-page' },
    el('h1', {}, 'Repositories'),
    el('p', { className: 'actions' },
      RCLASSES.map((k) => linkButton(`#${PATH}/new/${k}`, `New ${k}`, { id: `repos-new-${k}` }))),
    flash, error,
    el('div', { className: 'filters' }, filter.row, kinds.row),
    list.wrap));
  const all = await api('GET', '/api/repositories');
  for (const r of all) r.search = `${r.key} ${r.description || ''} ${r.packageType}`.toLowerCase();
  list.set(all);
}

// ------------------------------------------------------------------ the form

// The fields of each kind (docs/repositories.md), in the order of the form.
const NUMBER_HINT = {
  retrievalCachePeriodSecs: 'seconds before metadata is asked for again',
  missedRetrievalCachePeriodSecs: 'seconds a path the upstream did not have answers 404 without asking again',
  assumedOfflinePeriodSecs: 'seconds without asking after the upstream failed',
  socketTimeoutMillis: 'milliseconds: connect timeout and longest silence while reading',
  maxUniqueSnapshots: 'timestamped builds kept per snapshot version (0: all)',
  quotaBytes: 'most bytes of files the repository may hold (0: no quota)',
  virtualRetrievalCachePeriodSecs: 'seconds merged metadata is kept',
};

async function repoForm(key, newClass) {
  const creating = key === null;
  const config = creating ? { rclass: newClass, packageType: 'generic', includesPattern: '**/*' } : await api('GET', `/api/repositories/${enc(key)}`);
  const rclass = config.rclass;
  // a virtual repository's members are picked from the others (one call, whatever their number)
  const all = rclass === 'virtual' ? await api('GET', '/api/repositories') : [];
  const error = formError('repo-error');
  const f = {};
  const keyField = textField('repo-key', 'Key', {
    value: config.key || '', readonly: !creating,
    hint: creating ? "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit" : "a repository's key can't change",
  });
  const types = PACKAGE_TYPES.includes(config.packageType) ? PACKAGE_TYPES : [...PACKAGE_TYPES, config.packageType];
  f.packageType = selectField('repo-packageType', 'Package type', types, config.packageType,
    creating ? null : 'the format its content is laid out in');
  if (!creating) f.packageType.input.disabled = true;
  f.description = textField('repo-description', 'Description', { value: config.description });
  f.notes = textareaField('repo-notes', 'Notes', config.notes, null, 2);
  f.includesPattern = textField('repo-includesPattern', 'Include patterns', {
    value: config.includesPattern, hint: 'comma-separated Ant patterns of what it accepts (local) or asks the upstream for (remote), e.g. **/*',
  });
  f.excludesPattern = textField('repo-excludesPattern', 'Exclude patterns', { value: config.excludesPattern, hint: 'comma-separated; empty: nothing excluded' });
  f.anonymousRead = checkField('repo-anonymousRead', 'Anonymous callers may read', config.anonymousRead);
  const general = el('fieldset', {}, el('legend', {}, 'General'),
    keyField.row, f.packageType.row, f.description.row, f.notes.row, f.includesPattern.row, f.excludesPattern.row, f.anonymousRead.row);

  const sections = [general];
  if (rclass === 'local') {
    f.blackedOut = checkField('repo-blackedOut', 'Blacked out (serves nothing)', config.blackedOut);
    f.activeContentInline = checkField('repo-activeContentInline', 'Serve HTML, SVG, JavaScript inline (sandboxed)', config.activeContentInline);
    f.quotaBytes = numberField('repo-quotaBytes', 'Quota (bytes)', config.quotaBytes ?? 0, NUMBER_HINT.quotaBytes);
    f.checksumPolicyType = selectField('repo-checksumPolicyType', 'Checksum policy',
      [['client-checksums', 'verify client checksums'], ['server-generated-checksums', 'server-generated checksums']],
      config.checksumPolicyType || 'client-checksums');
    f.handleReleases = checkField('repo-handleReleases', 'Handle releases', config.handleReleases ?? true);
    f.handleSnapshots = checkField('repo-handleSnapshots', 'Handle snapshots', config.handleSnapshots ?? true);
    f.maxUniqueSnapshots = numberField('repo-maxUniqueSnapshots', 'Max unique snapshots', config.maxUniqueSnapshots ?? 0, NUMBER_HINT.maxUniqueSnapshots);
    f.snapshotVersionBehavior = selectField('repo-snapshotVersionBehavior', 'Snapshot version behavior',
      ['unique', 'non-unique', 'deployer'], config.snapshotVersionBehavior || 'unique');
    f.suppressPomConsistencyChecks = checkField('repo-suppressPomConsistencyChecks', 'Suppress POM consistency checks', config.suppressPomConsistencyChecks);
    sections.push(el('fieldset', {}, el('legend', {}, 'Local repository'),
      f.blackedOut.row, f.activeContentInline.row, f.quotaBytes.row, f.checksumPolicyType.row));
    sections.push(el('fieldset', { id: 'repo-maven' }, el('legend', {}, 'Maven'),
      f.handleReleases.row, f.handleSnapshots.row, f.maxUniqueSnapshots.row, f.snapshotVersionBehavior.row, f.suppressPomConsistencyChecks.row));
  } else if (rclass === 'remote') {
    f.url = textField('repo-url', 'URL', { type: 'url', value: config.url, hint: 'the upstream, http:// or https:// (no credentials in it)' });
    f.username = textField('repo-username', 'Username', { value: config.username, autocomplete: 'off' });
    // write-only: the API never shows it; left empty on edit, the stored one is kept
    f.password = textField('repo-password', 'Password', {
      type: 'password', autocomplete: 'new-password',
      hint: creating ? 'for the upstream; stored sealed, never shown again' : 'leave empty to keep the stored password (it is never shown)',
    });
    f.clearPassword = creating ? null : checkField('repo-password-clear', 'Remove the stored password', false);
    f.offline = checkField('repo-offline', 'Offline (serve only what is cached)', config.offline);
    f.blackedOut = checkField('repo-blackedOut', 'Blacked out (serves nothing, fetches nothing)', config.blackedOut);
    f.storeArtifactsLocally = checkField('repo-storeArtifactsLocally', 'Store artifacts locally (cache)', config.storeArtifactsLocally ?? true);
    f.hardFail = checkField('repo-hardFail', 'Hard fail (an upstream failure is the client\'s error)', config.hardFail);
    f.retrievalCachePeriodSecs = numberField('repo-retrievalCachePeriodSecs', 'Metadata retrieval cache period', config.retrievalCachePeriodSecs ?? 7200, NUMBER_HINT.retrievalCachePeriodSecs);
    f.missedRetrievalCachePeriodSecs = numberField('repo-missedRetrievalCachePeriodSecs', 'Missed retrieval cache period', config.missedRetrievalCachePeriodSecs ?? 1800, NUMBER_HINT.missedRetrievalCachePeriodSecs);
    f.assumedOfflinePeriodSecs = numberField('repo-assumedOfflinePeriodSecs', 'Assumed offline period', config.assumedOfflinePeriodSecs ?? 300, NUMBER_HINT.assumedOfflinePeriodSecs);
    f.socketTimeoutMillis = numberField('repo-socketTimeoutMillis', 'Socket timeout', config.socketTimeoutMillis ?? 15000, NUMBER_HINT.socketTimeoutMillis);
    sections.push(el('fieldset', {}, el('legend', {}, 'Upstream'),
      f.url.row, f.username.row, f.password.row, f.clearPassword ? f.clearPassword.row : null));
    sections.push(el('fieldset', {}, el('legend', {}, 'Caching'),
      f.offline.row, f.blackedOut.row, f.storeArtifactsLocally.row, f.hardFail.row,
      f.retrievalCachePeriodSecs.row, f.missedRetrievalCachePeriodSecs.row, f.assumedOfflinePeriodSecs.row, f.socketTimeoutMillis.row));
  } else {
    sections.push(membersEditor(config, all, f));
    f.virtualRetrievalCachePeriodSecs = numberField('repo-virtualRetrievalCachePeriodSecs', 'Merged metadata cache period',
      config.virtualRetrievalCachePeriodSecs ?? 600, NUMBER_HINT.virtualRetrievalCachePeriodSecs);
    sections.push(el('fieldset', {}, el('legend', {}, 'Metadata'), f.virtualRetrievalCachePeriodSecs.row));
  }
  const maven = sections.find((s) => s.id === 'repo-maven');
  const showMaven = () => { if (maven) maven.hidden = f.packageType.input.value !== 'maven'; };
  f.packageType.input.addEventListener('change', showMaven);
  showMaven();

  const submit = el('button', { type: 'submit', id: 'repo-save' }, creating ? 'Create' : 'Save');
  const form = el('form', {
    id: 'repo-form', className: 'admin-form', noValidate: true, 'aria-labelledby': 'repo-title',
    onsubmit: async (event) => {
      event.preventDefault();
      error.set('');
      const k = keyField.input.value.trim();
      if (!k) {
        error.set('Give the repository a key.');
        keyField.input.focus();
        return;
      }
      const body = collect(f, rclass, creating);
      submit.disabled = true;
      try {
        const message = await api(creating ? 'PUT' : 'POST', `/api/repositories/${enc(k)}`, body);
        if (f.password) f.password.input.value = '';
        setFlash(typeof message === 'string' ? message : `Repository '${k}' saved`);
        location.hash = `#${PATH}`;
      } catch (e) {
        error.set(e.message);
        submit.disabled = false;
      }
    },
  },
  el('div', { className: 'form-grid' }, sections), error,
  el('p', { className: 'actions' }, submit, linkButton(`#${PATH}`, 'Cancel', { className: 'button secondary' })));
  show(el('div', { className: 'admin-page' },
    el('p', { className: 'crumbs' }, el('a', { href: `#${PATH}` }, 'Repositories'), ' / ', creating ? `new ${rclass}` : key),
    el('h1', { id: 'repo-title' }, creating ? `New ${rclass} repository` : `${rclass[0].toUpperCase()}${rclass.slice(1)} repository ${key}`),
    form));
}

// The body of a PUT (every field of the kind) or POST (the same; the password only when typed).
function collect(f, rclass, creating) {
  const body = creating ? { rclass } : {};
  for (const [name, field] of Object.entries(f)) {
    if (!field || !field.input || name === 'clearPassword' || name === 'members') continue;
    const input = field.input;
    if (name === 'packageType') {
      if (creating) body.packageType = input.value;
    } else if (name === 'password') {
      if (input.value) body.password = input.value;
      else if (f.clearPassword && f.clearPassword.input.checked) body.password = '';
    } else if (input.type === 'checkbox') {
      body[name] = input.checked;
    } else if (input.type === 'number') {
      const n = numberValue(input);
      if (n !== undefined) body[name] = n;
    } else {
      body[name] = input.value;
    }
  }
  if (f.members) {
    body.repositories = f.members.keys();
    body.defaultDeploymentRepo = f.members.target();
  }
  return body;
}

// A virtual repository's ordered members (move up/down, remove, add by key) and its default
// deployment repository (one of the local members).
function membersEditor(config, all, f) {
  const byKey = new Map(all.map((r) => [r.key, r]));
  const members = [...(config.repositories || [])];
  const list = el('ol', { id: 'repo-members', className: 'members' });
  const target = el('select', { id: 'repo-defaultDeploymentRepo', 'aria-describedby': 'repo-defaultDeploymentRepo-hint' });
  let targetValue = config.defaultDeploymentRepo || '';
  const drawTarget = () => {
    const locals = members.filter((m) => byKey.get(m) && byKey.get(m).type === 'LOCAL');
    if (targetValue && !members.includes(targetValue)) targetValue = '';
    target.replaceChildren(el('option', { value: '' }, 'none (deploys are refused)'),
      ...locals.map((m) => el('option', { value: m, selected: m === targetValue }, m)));
    target.value = targetValue;
  };
  target.addEventListener('change', () => { targetValue = target.value; });
  const draw = () => {
    list.replaceChildren(...members.map((m, i) => el('li', { 'data-member': m },
      el('span', { className: 'member-key' }, m),
      el('span', { className: 'muted' }, byKey.get(m) ? ` ${byKey.get(m).type.toLowerCase()}` : ''),
      el('span', { className: 'member-actions' },
        el('button', { type: 'button', className: 'secondary small', 'aria-label': `Move ${m} up`, disabled: i === 0, onclick: () => move(i, -1) }, '↑'),
        el('button', { type: 'button', className: 'secondary small', 'aria-label': `Move ${m} down`, disabled: i === members.length - 1, onclick: () => move(i, 1) }, '↓'),
        el('button', { type: 'button', className: 'secondary small', 'aria-label': `Remove member ${m}`, onclick: () => { members.splice(i, 1); draw(); } }, 'Remove')))));
    if (!members.length) list.append(el('li', { className: 'muted empty' }, 'No members yet.'));
    drawTarget();
  };
  const move = (i, by) => {
    const [m] = members.splice(i, 1);
    members.splice(i + by, 0, m);
    draw();
  };
  // suggestions: the repositories of the same package type (the API refuses the others)
  const candidates = datalist('repo-member-candidates', []);
  const suggest = () => {
    const pt = f.packageType.input.value;
    candidates.replaceChildren(...all.filter((r) => r.key !== config.key && r.packageType === pt)
      .map((r) => el('option', { value: r.key })));
  };
  f.packageType.input.addEventListener('change', suggest);
  suggest();
  const add = textField('repo-member-add', 'Add a member (repository key)', { list: 'repo-member-candidates' });
  const addButton = el('button', { type: 'button', id: 'repo-member-add-button', className: 'secondary' }, 'Add');
  const addMember = () => {
    const k = add.input.value.trim();
    if (k && !members.includes(k)) members.push(k);
    add.input.value = '';
    draw();
    add.input.focus();
  };
  addButton.addEventListener('click', addMember);
  add.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      addMember();
    }
  });
  draw();
  f.members = { keys: () => [...members], target: () => target.value };
  return el('fieldset', {}, el('legend', {}, 'Members'),
    el('p', { className: 'muted' }, 'Resolved in this order: the first member that has a path serves it.'),
    list,
    el('div', { className: 'inline' }, add.row, addButton),
    candidates,
    el('div', { className: 'field' },
      el('label', { for: 'repo-defaultDeploymentRepo' }, 'Default deployment repository'), target,
      el('small', { id: 'repo-defaultDeploymentRepo-hint', className: 'muted' }, 'a local member that deploys to this repository land in')));
}

export const pages = [
  { path: PATH, title: 'Repositories', group: 'Administration', admin: true, render,
    summary: 'local, remote and virtual repositories — create, edit, delete.' },
];
