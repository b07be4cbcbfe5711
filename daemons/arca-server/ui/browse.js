// Artifacts → Repositories: a tree of repositories and folders; a folder's children in pages
// (folder info with `offset`/`limit`/`name`, so a folder of 100k children stays quick) with a
// filter; an artifact's details (checksums, properties with edit, download, "copy URL", the
// client snippet of the repository's package type); deploy by file picker or drag and drop
// with progress; delete, copy and move. Every action is a call of the REST API.
import { api, base, el, formatBytes, show, statusLine, upload } from './lib.js';
import { confirmDialog } from './admin-kit.js';

export const PAGE = 500;

// ------------------------------------------------------------------ paths and URLs

const segments = (path) => path.split('/').filter(Boolean);
const join = (...parts) => parts.flatMap((p) => segments(p || '')).join('/');
// `repo/a/b` with each segment percent-encoded, for REST paths and hashes alike
export const encodePath = (repo, path) => [repo, ...segments(path || '')].map(encodeURIComponent).join('/');
export const browseHash = (repo, path) => `#/browse/${encodePath(repo, path)}`;
const storage = (repo, path) => `/api/storage/${encodePath(repo, path)}`;
const lastName = (path) => segments(path).pop() || '';
const parentOf = (path) => segments(path).slice(0, -1).join('/');
const childName = (uri) => uri.replace(/^\//, '');

// "2024-06-01 10:00:05" in the browser's time zone
export function formatDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// Copies text to the clipboard: the Clipboard API where the page is a secure context, else the
// selection of `field` (plain HTTP on another host than localhost has no Clipboard API).
async function copyText(text, field) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch (_) {
      // refused (no permission, page not focused): the selection below
    }
  }
  field.select();
  if (!document.execCommand('copy')) throw new Error('The browser refused to copy: select the text and copy it.');
}

// ------------------------------------------------------------------ the tree (kept across pages)

const tree = {
  nav: null, // the <nav>, reused by every render so expansions and scroll stay
  nodes: new Map(), // 'repo/path' → node
  repos: [], // GET /api/repositories
  loaded: false,
};

const nodeKey = (repo, path) => `${repo}/${path}`;

function treeNode(repo, path, label, note) {
  const list = el('ul', { hidden: true });
  const toggle = el('button', {
    type: 'button', className: 'twisty', 'aria-expanded': 'false',
    'aria-label': `Folders of ${path ? `${repo}/${path}` : repo}`,
  }, '▸');
  const link = el('a', { href: browseHash(repo, path), 'data-node': nodeKey(repo, path) }, label);
  const node = { repo, path, list, toggle, link, loaded: false, expanded: false, li: null };
  node.li = el('li', {}, toggle, link, note ? el('span', { className: 'muted tree-note' }, note) : null, list);
  toggle.addEventListener('click', () => (node.expanded ? collapse(node) : expand(node).catch(() => {})));
  tree.nodes.set(nodeKey(repo, path), node);
  return node;
}

// Loads a page of the folder's children and lists the folders among them (they come first).
async function loadFolders(node, offset) {
  const info = await api('GET', `${storage(node.repo, node.path)}?offset=${offset}&limit=${PAGE}`);
  if (offset === 0) node.list.replaceChildren();
  else node.list.querySelector('.tree-more')?.remove();
  const folders = (info.children || []).filter((c) => c.folder);
  for (const c of folders) {
    const name = childName(c.uri);
    const path = join(node.path, name);
    const known = tree.nodes.get(nodeKey(node.repo, path));
    node.list.append(known ? known.li : treeNode(node.repo, path, name).li);
  }
  if (offset === 0 && !folders.length) node.list.append(el('li', { className: 'muted tree-empty' }, 'no folders'));
  // all of the page were folders and there are more children: there may be more folders
  if (info.hasMore && folders.length === info.children.length) {
    const next = offset + info.children.length;
    node.list.append(el('li', { className: 'tree-more' },
      el('button', { type: 'button', className: 'link', onclick: () => loadFolders(node, next) }, 'more folders…')));
  }
  node.loaded = true;
}

async function expand(node) {
  if (!node.loaded) await loadFolders(node, 0);
  node.expanded = true;
  node.list.hidden = false;
  node.toggle.setAttribute('aria-expanded', 'true');
  node.toggle.textContent = '▾';
}

function collapse(node) {
  node.expanded = false;
  node.list.hidden = true;
  node.toggle.setAttribute('aria-expanded', 'false');
  node.toggle.textContent = '▸';
}

// After a change below `path`: reload the folders of the nodes already shown there.
async function refreshTree(repo, path) {
  const node = tree.nodes.get(nodeKey(repo, path));
  if (node && node.loaded) {
    try {
      await loadFolders(node, 0);
    } catch (_) {
      // the folder itself may be gone: its parent is refreshed by the caller
    }
  }
}

async function treeNav(refresh) {
  if (!tree.nav) {
    tree.nav = el('nav', { className: 'browse-tree', id: 'browse-tree', 'aria-label': 'Repositories and folders' });
  }
  if (!tree.loaded || refresh) {
    tree.repos = await api('GET', '/api/repositories');
    tree.nodes.clear();
    const list = el('ul', { className: 'tree-root' }, tree.repos.map((r) =>
      treeNode(r.key, '', r.key, `${r.packageType} · ${r.type.toLowerCase()}`).li));
    tree.nav.replaceChildren(
      el('h2', { className: 'tree-title' }, 'Repositories'),
      tree.repos.length ? list : el('p', { className: 'muted' }, 'No repository you may read.'));
    tree.loaded = true;
  }
  return tree.nav;
}

// Opens the tree down to `repo/path` (the repository and each folder above it) and marks it.
async function revealInTree(repo, path) {
  const parts = segments(path);
  for (let depth = 0; depth < parts.length; depth += 1) {
    const node = tree.nodes.get(nodeKey(repo, parts.slice(0, depth).join('/')));
    if (!node) break; // beyond the folders listed (a later page of a huge folder)
    try {
      await expand(node);
    } catch (_) {
      break;
    }
  }
  for (const a of tree.nav.querySelectorAll('a[aria-current]')) a.removeAttribute('aria-current');
  tree.nodes.get(nodeKey(repo, path))?.link.setAttribute('aria-current', 'page');
}

// ------------------------------------------------------------------ page frame

function breadcrumb(repo, path) {
  const crumbs = [el('a', { href: '#/browse' }, 'Repositories')];
  if (repo) crumbs.push(' / ', el('a', { href: browseHash(repo, '') }, repo));
  let at = '';
  for (const s of segments(path || '')) {
    at = join(at, s);
    crumbs.push(' / ', el('a', { href: browseHash(repo, at) }, s));
  }
  return el('nav', { className: 'crumbs', 'aria-label': 'Breadcrumb' }, crumbs);
}

async function browsePage(rest) {
  const [repo, ...parts] = segments(rest || '');
  const path = parts.join('/');
  // the repository list is read again on the overview, or when it does not know `repo`
  let nav = await treeNav(!repo);
  if (repo && !tree.repos.some((r) => r.key === repo)) nav = await treeNav(true);
  const detail = el('section', { className: 'browse-detail', id: 'browse-detail', 'aria-labelledby': 'browse-title' });
  show(el('div', { className: 'browse' }, nav, detail));
  if (!repo) {
    overview(detail);
    await revealInTree('', '');
    return;
  }
  const known = tree.repos.find((r) => r.key === repo);
  // with the paging parameters: a folder's first page (never all of a huge folder), or a
  // file's info (a file ignores them)
  const info = await api('GET', `${storage(repo, path)}?offset=0&limit=${PAGE}`);
  revealInTree(repo, info.children ? path : parentOf(path)).catch(() => {});
  if (info.children) await folderView(detail, known, repo, path, info);
  else artifactView(detail, known, repo, path, info);
}

function overview(detail) {
  const rows = tree.repos.map((r) => el('tr', {},
    el('td', {}, el('a', { href: browseHash(r.key, '') }, r.key)),
    el('td', {}, r.type.toLowerCase()),
    el('td', {}, r.packageType),
    el('td', {}, r.description || '')));
  detail.replaceChildren(
    el('h1', { id: 'browse-title' }, 'Repositories'),
    el('p', { className: 'muted' }, 'Choose a repository to browse its folders, deploy files and see their details.'),
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Repositories' },
      el('table', { id: 'browse-repos' },
        el('thead', {}, el('tr', {}, ['Repository', 'Kind', 'Package type', 'Description'].map((t) => el('th', { scope: 'col' }, t)))),
        el('tbody', { id: 'browse-repo-rows' }, rows))));
}

// ------------------------------------------------------------------ a folder (or a repository's root)

async function folderView(detail, repoInfo, repo, path, first) {
  const status = statusLine('browse-status');
  const rows = el('tbody', { id: 'browse-rows' });
  const more = el('button', { type: 'button', id: 'browse-more', className: 'secondary', hidden: true }, `Show ${PAGE} more`);
  const filter = el('input', { id: 'browse-filter', type: 'search', placeholder: 'name, or a pattern like *.jar', autocomplete: 'off' });
  let shown = 0;
  let generation = 0; // a newer load (filter typed) makes older answers stale

  const rowOf = (c) => {
    const name = childName(c.uri);
    return el('tr', { 'data-name': name },
      el('td', {}, el('a', { href: browseHash(repo, join(path, name)), className: c.folder ? 'kind-folder' : 'kind-file' }, name)),
      el('td', { className: 'num' }, c.folder ? '' : formatBytes(c.size)),
      el('td', {}, formatDate(c.lastModified)));
  };
  const fill = (info, append) => {
    const kids = info.children || [];
    if (!append) rows.replaceChildren();
    rows.append(...kids.map(rowOf));
    shown = (append ? shown : 0) + kids.length;
    more.hidden = !info.hasMore;
    const wanted = filter.value.trim();
    const what = wanted ? `matching “${wanted}”` : 'items';
    status.set(info.total === 0 ? (wanted ? `Nothing matches “${wanted}”.` : 'This folder is empty.')
      : `Showing ${shown.toLocaleString('en')} of ${info.total.toLocaleString('en')} ${what}.`);
  };
  const load = async (append) => {
    const mine = ++generation;
    const wanted = filter.value.trim();
    const query = `offset=${append ? shown : 0}&limit=${PAGE}${wanted ? `&name=${encodeURIComponent(wanted)}` : ''}`;
    try {
      const info = await api('GET', `${storage(repo, path)}?${query}`);
      if (mine === generation) fill(info, append);
    } catch (e) {
      if (mine === generation) status.set(e.message, true);
    }
  };
  more.addEventListener('click', () => load(true));
  let debounce = null;
  filter.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => load(false), 200);
  });

  const kind = repoInfo ? `${repoInfo.type.toLowerCase()} ${repoInfo.packageType} repository` : 'repository';
  const title = path ? lastName(path) : repo;
  const meta = path
    ? `Folder in ${repo} · created ${formatDate(first.created)} by ${first.createdBy} · modified ${formatDate(first.lastModified)} by ${first.modifiedBy}`
    : `${kind[0].toUpperCase()}${kind.slice(1)}${repoInfo && repoInfo.description ? ` · ${repoInfo.description}` : ''}${
      repoInfo && repoInfo.type === 'VIRTUAL' ? ' · its files are in its member repositories; a deploy goes to its default deployment repository' : ''}`;
  const canDeploy = !repoInfo || repoInfo.type !== 'REMOTE';
  detail.replaceChildren(
    breadcrumb(repo, path),
    el('h1', { id: 'browse-title' }, title),
    el('p', { className: 'muted' }, meta),
    el('div', { className: 'browse-filter' },
      el('label', { for: 'browse-filter' }, 'Filter by name'), filter),
    status,
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': `Contents of ${title}` },
      el('table', { id: 'browse-children' },
        el('thead', {}, el('tr', {}, ['Name', 'Size', 'Last modified'].map((t) => el('th', { scope: 'col' }, t)))),
        rows)),
    el('p', {}, more),
    ...[canDeploy ? deploySection(repo, path, async () => {
      await load(false);
      await refreshTree(repo, path);
    }) : null,
    path ? actionsSection(repo, path, true) : null].filter(Boolean));
  fill(first, false);
  // when the first page shows (user timing: the browser test reads it)
  performance.mark('arca:browse:children');
}

// ------------------------------------------------------------------ deploy

// A file dropped beside the drop zone would make the browser leave the page to show it.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (e) => {
    if (document.getElementById('deploy-drop') && !e.defaultPrevented) e.preventDefault();
  });
}

function deploySection(repo, path, afterDeploy) {
  const input = el('input', { type: 'file', id: 'deploy-file', multiple: true });
  const target = el('input', { id: 'deploy-target', value: path, placeholder: '(the repository root)', autocomplete: 'off', spellcheck: 'false' });
  const progress = el('ul', { id: 'deploy-progress', className: 'deploy-progress', 'aria-live': 'polite' });
  const zone = el('div', { className: 'dropzone', id: 'deploy-drop' },
    el('p', {}, 'Drop files here to deploy them, or choose them: '),
    el('label', { for: 'deploy-file' }, 'Files to deploy '), input);

  const deployAll = async (files) => {
    const folder = join(target.value.trim());
    for (const file of files) {
      const dest = join(folder, file.name);
      const bar = el('progress', { max: 1, value: 0, 'aria-label': `Deploying ${file.name}` });
      const text = el('span', {}, 'uploading…');
      const item = el('li', { 'data-file': file.name }, el('span', { className: 'deploy-name' }, `${repo}/${dest}`), ' ', bar, ' ', text);
      progress.prepend(item);
      try {
        await upload(`/${encodePath(repo, dest)}`, file, (f) => {
          bar.value = f;
        });
        bar.value = 1;
        text.replaceChildren('deployed · ', el('a', { href: browseHash(repo, dest) }, 'details'));
        item.classList.add('done');
      } catch (e) {
        text.textContent = e.message;
        text.className = 'error';
        item.classList.add('failed');
      }
    }
    input.value = '';
    await afterDeploy();
  };
  input.addEventListener('change', () => {
    if (input.files.length) deployAll([...input.files]);
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
    if (files.length) deployAll(files);
  });
  return el('section', { className: 'browse-section', id: 'deploy', 'aria-labelledby': 'deploy-title' },
    el('h2', { id: 'deploy-title' }, 'Deploy'),
    el('div', { className: 'field' }, el('label', { for: 'deploy-target' }, `Target folder in ${repo}`), target),
    zone,
    progress);
}

// ------------------------------------------------------------------ delete, copy, move

function actionsSection(repo, path, isFolder) {
  const status = statusLine('actions-status');
  const to = el('input', { id: 'transfer-target', value: `${repo}/${path}`, autocomplete: 'off', spellcheck: 'false' });
  const transfer = async (verb) => {
    const dest = to.value.trim().replace(/^\/+/, '');
    const [dRepo, ...dParts] = segments(dest);
    if (!dRepo) {
      status.set('Name the target as repository/path.', true);
      return;
    }
    // a target ending in `/` is a folder to put it in, whether it exists or not
    const into = dest.endsWith('/');
    const dPath = into ? join(...dParts, lastName(path)) : dParts.join('/');
    // the API's `cp` semantics: into a folder that exists (or the root), else at the path named
    let landed = dPath;
    if (!into) {
      try {
        const at = dPath ? await api('GET', storage(dRepo, dPath)) : { children: [] };
        if (at.children) landed = join(dPath, lastName(path));
      } catch (_) {
        // nothing there yet: it lands at dPath
      }
    }
    try {
      const answer = await api('POST', `/api/${verb}/${encodePath(repo, path)}?to=/${encodePath(dRepo, dPath)}`);
      status.set(answer && answer.messages && answer.messages[0] ? answer.messages[0].message : `${verb}: done`);
      await refreshTree(dRepo, dPath);
      await refreshTree(dRepo, parentOf(dPath));
      if (verb === 'move') {
        await refreshTree(repo, parentOf(path));
        location.hash = browseHash(dRepo, landed);
      } else {
        status.append(' ', el('a', { href: browseHash(dRepo, landed), id: 'transfer-landed' }, 'Open the copy'));
      }
    } catch (e) {
      status.set(e.message, true);
    }
  };
  // asks in the administration pages' modal dialog (Cancel focused, Escape cancels)
  const askDelete = async () => {
    if (!(await confirmDialog(`Delete ${repo}/${path}${isFolder ? ' and everything in it' : ''}?`))) return;
    try {
      await api('DELETE', `/${encodePath(repo, path)}`);
      await refreshTree(repo, parentOf(path));
      tree.nodes.delete(nodeKey(repo, path));
      location.hash = browseHash(repo, parentOf(path));
    } catch (e) {
      status.set(e.message, true);
    }
  };
  return el('section', { className: 'browse-section', id: 'actions', 'aria-labelledby': 'actions-title' },
    el('h2', { id: 'actions-title' }, isFolder ? 'Folder actions' : 'Actions'),
    el('div', { className: 'field' },
      el('label', { for: 'transfer-target' }, 'Copy or move to (repository/path; into it when it ends with / or is a folder)'), to),
    el('p', { className: 'buttons' },
      el('button', { type: 'button', id: 'copy-button', onclick: () => transfer('copy') }, 'Copy'), ' ',
      el('button', { type: 'button', id: 'move-button', onclick: () => transfer('move') }, 'Move'), ' ',
      el('button', { type: 'button', id: 'delete-button', className: 'danger', onclick: askDelete }, 'Delete…')),
    status);
}

// ------------------------------------------------------------------ an artifact

// The property syntax of `?properties=`: `,` separates values and `\` escapes; `;` and `|`
// would start another property, so they are escaped.
const propertySpec = (key, values) => `${key}=${values.replace(/[;|]/g, (c) => `\\${c}`)}`;
const escapeValue = (v) => v.replace(/[\\,;|]/g, (c) => `\\${c}`);

function propertiesSection(repo, path) {
  const status = statusLine('props-status');
  const rows = el('tbody', { id: 'props-rows' });
  const key = el('input', { id: 'prop-key', required: true, autocomplete: 'off', spellcheck: 'false' });
  const value = el('input', { id: 'prop-value', autocomplete: 'off', spellcheck: 'false' });
  const url = `${storage(repo, path)}?properties`;
  const load = async () => {
    let props = {};
    try {
      props = (await api('GET', url)).properties || {};
    } catch (e) {
      if (e.status !== 404) {
        status.set(e.message, true);
        return;
      }
    }
    const keys = Object.keys(props).sort();
    rows.replaceChildren(...keys.map((k) => el('tr', { 'data-key': k },
      el('th', { scope: 'row' }, k),
      el('td', {}, props[k].join(', ')),
      el('td', {},
        el('button', { type: 'button', className: 'secondary small', 'aria-label': `Edit ${k}`, onclick: () => {
          key.value = k;
          value.value = props[k].map(escapeValue).join(',');
          value.focus();
        } }, 'Edit'), ' ',
        el('button', { type: 'button', className: 'secondary small', 'aria-label': `Delete ${k}`, onclick: async () => {
          try {
            await api('DELETE', `${storage(repo, path)}?properties=${encodeURIComponent(k)}`);
            status.set(`Deleted ${k}.`);
            await load();
          } catch (e) {
            status.set(e.message, true);
          }
        } }, 'Delete')))));
    if (!keys.length) rows.append(el('tr', {}, el('td', { colspan: 3, className: 'muted' }, 'No properties.')));
  };
  const save = async (e) => {
    e.preventDefault();
    try {
      await api('PUT', `${storage(repo, path)}?properties=${encodeURIComponent(propertySpec(key.value.trim(), value.value))}`);
      status.set(`Saved ${key.value.trim()}.`);
      key.value = '';
      value.value = '';
      await load();
    } catch (err) {
      status.set(err.message, true);
    }
  };
  const section = el('section', { className: 'browse-section', id: 'properties', 'aria-labelledby': 'props-title' },
    el('h2', { id: 'props-title' }, 'Properties'),
    el('div', { className: 'table-wrap' },
      el('table', { id: 'props-table', className: 'props' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Property'), el('th', { scope: 'col' }, 'Values'),
          el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'Actions')))),
        rows)),
    el('form', { id: 'props-form', className: 'inline-form', onsubmit: save },
      el('div', { className: 'field' }, el('label', { for: 'prop-key' }, 'Property'), key),
      el('div', { className: 'field' }, el('label', { for: 'prop-value' }, 'Values (separated by commas; \\, for a comma)'), value),
      el('button', { type: 'submit', id: 'prop-save' }, 'Set')),
    status);
  load();
  return section;
}

// What a client puts in its build or runs to get this file, by the repository's package type.
export function clientSnippet(packageType, repo, path, downloadUri) {
  const repoUrl = `${location.origin}${base}/${encodeURIComponent(repo)}`;
  const parts = segments(path);
  const name = lastName(path);
  if (packageType === 'maven' && parts.length >= 4) {
    const [version, artifactId] = [parts[parts.length - 2], parts[parts.length - 3]];
    const groupId = parts.slice(0, -3).join('.');
    const stem = `${artifactId}-${version}`;
    if (name.startsWith(stem)) {
      const tail = name.slice(stem.length); // "-sources.jar", ".pom"
      const m = tail.match(/^(?:-([^.]+))?\.(.+)$/);
      if (m) {
        const lines = ['<dependency>', `  <groupId>${groupId}</groupId>`, `  <artifactId>${artifactId}</artifactId>`, `  <version>${version}</version>`];
        if (m[1]) lines.push(`  <classifier>${m[1]}</classifier>`);
        if (m[2] !== 'jar') lines.push(`  <type>${m[2]}</type>`);
        lines.push('</dependency>');
        return [
          ['Maven: pom.xml', lines.join('\n')],
          ['Maven: settings.xml (a <repository> of a profile)', ['<repository>', `  <id>${repo}</id>`, `  <url>${repoUrl}</url>`, '</repository>'].join('\n')],
        ];
      }
    }
  }
  if (packageType === 'npm') return [['npm', `npm install ${name.replace(/-\d[^/]*\.tgz$/, '')} --registry ${location.origin}${base}/api/npm/${repo}/`]];
  if (packageType === 'pypi') return [['pip', `pip install --index-url ${location.origin}${base}/api/pypi/${repo}/simple ${parts[0] || name}`]];
  if (packageType === 'docker') return [['Docker', `docker pull ${location.host}/${repo}/${parts.slice(0, -1).join('/')}`]];
  return [
    ['curl: download', `curl -u "$USER" -O "${downloadUri}"`],
    ['curl: deploy', `curl -u "$USER" -T ${name} "${downloadUri}"`],
  ];
}

function artifactView(detail, repoInfo, repo, path, info) {
  const status = statusLine('artifact-status');
  const url = el('input', { id: 'artifact-url', readonly: true, value: info.downloadUri, 'aria-label': 'Download URL', spellcheck: 'false' });
  const copy = el('button', { type: 'button', id: 'copy-url', className: 'secondary', onclick: async () => {
    try {
      await copyText(info.downloadUri, url);
      status.set('URL copied.');
    } catch (e) {
      status.set(e.message, true);
    }
  } }, 'Copy URL');
  const dl = (pairs) => el('dl', { className: 'facts' }, pairs.flatMap(([term, value, id]) => [el('dt', {}, term), el('dd', { id }, value)]));
  const sums = info.checksums || {};
  const original = info.originalChecksums || {};
  const checksumRow = (label, k) => el('tr', {},
    el('th', { scope: 'row' }, label),
    el('td', { className: 'mono', id: `artifact-${k}` }, sums[k] || ''),
    el('td', { className: 'muted' }, original[k] && original[k] !== sums[k] ? `sent: ${original[k]}` : ''));
  const snippets = clientSnippet(repoInfo ? repoInfo.packageType : 'generic', repo, path, info.downloadUri);
  detail.replaceChildren(
    breadcrumb(repo, path),
    el('h1', { id: 'browse-title' }, lastName(path)),
    dl([
      ['Repository', repo, 'artifact-repo'],
      ['Path', path, 'artifact-path'],
      ['Size', `${formatBytes(Number(info.size))} (${Number(info.size).toLocaleString('en')} bytes)`, 'artifact-size'],
      ['Type', info.mimeType, 'artifact-mime'],
      ['Created', `${formatDate(info.created)} by ${info.createdBy}`, 'artifact-created'],
      ['Modified', `${formatDate(info.lastModified)} by ${info.modifiedBy}`, 'artifact-modified'],
    ]),
    el('p', { className: 'buttons' },
      el('a', { className: 'button', id: 'artifact-download', href: info.downloadUri, download: lastName(path) }, 'Download'), ' ',
      url, ' ', copy),
    status,
    el('section', { className: 'browse-section', 'aria-labelledby': 'sums-title' },
      el('h2', { id: 'sums-title' }, 'Checksums'),
      el('div', { className: 'table-wrap' },
        el('table', { id: 'artifact-checksums' },
          el('tbody', {}, checksumRow('SHA-256', 'sha256'), checksumRow('SHA-1', 'sha1'), checksumRow('MD5', 'md5'))))),
    propertiesSection(repo, path),
    el('section', { className: 'browse-section', id: 'snippet', 'aria-labelledby': 'snippet-title' },
      el('h2', { id: 'snippet-title' }, 'Use it'),
      snippets.flatMap(([title, text], i) => [
        el('h3', {}, title),
        el('pre', { className: 'snippet', id: `snippet-${i}`, tabindex: 0 }, el('code', {}, text)),
      ])),
    actionsSection(repo, path, false));
}

export const pages = [
  { path: '/browse', title: 'Repositories', group: 'Artifacts', render: browsePage,
    summary: 'browse repositories and folders, see checksums and properties, deploy, copy, move and delete files.' },
];
