// Artifacts → Search: files by name (`/api/search/artifact?name=`, `*` and `?` wildcards) or by
// checksum (`/api/search/checksum?sha256=|sha1=|md5=`, told apart by length), optionally in one
// repository; each result links to its details in the repository browser. The search is in the
// hash (`#/search/name/foo[/repo]`: names and checksums have no `/`), so a result page can be
// linked and Back returns to it.
import { api, el, formatBytes, show, statusLine } from './lib.js';
import { browseHash, formatDate } from './browse.js';

const KINDS = [['name', 'Name'], ['checksum', 'Checksum']];

// SHA-1 and MD5 by their length; anything else is sent as SHA-256 and the API says what is wrong
export function checksumParam(value) {
  const v = value.trim();
  if (v.length === 40) return 'sha1';
  if (v.length === 32) return 'md5';
  return 'sha256';
}

async function searchPage(rest) {
  const [kindRaw, query, inRepo] = (rest || '').split('/');
  const kind = KINDS.some(([k]) => k === kindRaw) ? kindRaw : 'name';
  const status = statusLine('search-status');
  const input = el('input', { id: 'search-query', type: 'search', value: query || '', required: true, autocomplete: 'off', spellcheck: 'false',
    placeholder: kind === 'name' ? 'a name, or a pattern like *.jar' : 'SHA-256, SHA-1 or MD5' });
  const select = el('select', { id: 'search-kind' }, KINDS.map(([k, label]) => el('option', { value: k, selected: k === kind }, label)));
  const repoSelect = el('select', { id: 'search-repo' }, el('option', { value: '' }, 'All repositories'));
  const rows = el('tbody', { id: 'search-rows' });
  select.addEventListener('change', () => {
    input.placeholder = select.value === 'name' ? 'a name, or a pattern like *.jar' : 'SHA-256, SHA-1 or MD5';
  });
  const submit = (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const repo = repoSelect.value ? `/${encodeURIComponent(repoSelect.value)}` : '';
    location.hash = `#/search/${select.value}/${encodeURIComponent(q)}${repo}`;
  };
  show(
    el('h1', {}, 'Search'),
    el('form', { id: 'search-form', className: 'search-form', role: 'search', onsubmit: submit },
      el('div', { className: 'field' }, el('label', { for: 'search-kind' }, 'Search by'), select),
      el('div', { className: 'field grow' }, el('label', { for: 'search-query' }, 'Name or checksum'), input),
      el('div', { className: 'field' }, el('label', { for: 'search-repo' }, 'In'), repoSelect),
      el('button', { type: 'submit', id: 'search-submit' }, 'Search')),
    status,
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Search results' },
      el('table', { id: 'search-results' },
        el('thead', {}, el('tr', {}, ['Name', 'Repository', 'Path', 'Size', 'Last modified'].map((t) => el('th', { scope: 'col' }, t)))),
        rows)));
  input.focus();
  api('GET', '/api/repositories').then((repos) => {
    repoSelect.append(...repos.map((r) => el('option', { value: r.key, selected: r.key === inRepo }, r.key)));
  }).catch(() => {});
  if (!query) {
    status.set('Search files by name (* and ? are wildcards; a plain word matches anywhere in the name) or by checksum.');
    return;
  }
  const q = query.trim();
  const repos = inRepo ? `&repos=${encodeURIComponent(inRepo)}` : '';
  const url = kind === 'name'
    ? `/api/search/artifact?name=${encodeURIComponent(q)}${repos}`
    : `/api/search/checksum?${checksumParam(q)}=${encodeURIComponent(q)}${repos}`;
  status.set('Searching…');
  try {
    const answer = await api('GET', url, undefined, { 'X-Result-Detail': 'info' });
    const results = (answer && answer.results) || [];
    rows.replaceChildren(...results.map((r) => {
      const path = (r.path || '').replace(/^\//, '');
      const name = path.split('/').pop();
      return el('tr', { 'data-path': `${r.repo}/${path}` },
        el('td', {}, el('a', { href: browseHash(r.repo, path) }, name)),
        el('td', {}, r.repo),
        el('td', {}, path),
        el('td', { className: 'num' }, r.size !== undefined ? formatBytes(Number(r.size)) : ''),
        el('td', {}, formatDate(r.lastModified)));
    }));
    status.set(results.length ? `${results.length.toLocaleString('en')} file(s) found.` : 'No file found.');
  } catch (e) {
    status.set(e.message, true);
  }
}

export const pages = [
  { path: '/search', title: 'Search', group: 'Artifacts', render: searchPage,
    summary: 'find files by name or by checksum.' },
];
