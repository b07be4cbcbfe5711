// What every page of the UI shares: REST calls, DOM building, the page area, the refresh timer.
// Nothing from the server is ever inserted as markup: el() makes text nodes of strings.

// the context path: the page is served at {context}/ui/
export const base = location.pathname.slice(0, location.pathname.lastIndexOf('/ui/'));
export const $ = (id) => document.getElementById(id);
export const REFRESH_MS = 5000;

// who is signed in (GET /ui/auth/current): {name, admin, nodeId, …}; set by app.js
export const session = { me: null };

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)ARCA_CSRF=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

function failure(response, data) {
  const message = data && data.errors && data.errors[0] ? data.errors[0].message : `${response.status} ${response.statusText}`;
  const error = new Error(message);
  error.status = response.status;
  error.data = data;
  return error;
}

// A REST call: resolves to the parsed answer (JSON, else text), rejects with the error envelope's
// message. `body` is sent as JSON unless it is a string, Blob or File (sent as is).
export async function api(method, path, body, extraHeaders) {
  // X-Requested-With: a 401 comes without the Basic challenge, so the browser shows no dialog
  const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', ...(extraHeaders || {}) };
  const options = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Blob) {
      options.body = body;
    } else {
      headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
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
  if (!response.ok) throw failure(response, data);
  return data;
}

// An upload with progress (fetch has none): PUT `file` to `path`, calling onProgress(0..1).
export function upload(path, file, onProgress, extraHeaders) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', base + path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [k, v] of Object.entries(extraHeaders || {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress && e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new Error('the upload failed (network error)'));
    xhr.onload = () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch (_) {
        data = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(failure({ status: xhr.status, statusText: xhr.statusText }, data));
    };
    xhr.send(file);
  });
}

// el('tag', {attr: value, onclick: fn}, ...children): text children are text nodes, never markup
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'className') node.className = value;
    else if (key === 'value') node.value = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replaces the page area's content.
export function show(...nodes) {
  $('main').replaceChildren(...nodes);
}

let timer = null;

// Calls `load` every REFRESH_MS until the next page is shown.
export function refreshEvery(load, ms) {
  stopRefresh();
  timer = setInterval(load, ms || REFRESH_MS);
}

export function stopRefresh() {
  if (timer) clearInterval(timer);
  timer = null;
}

// A table in a scrollable, labelled region: columns are [title, (row) => text or Node].
export function table(id, label, columns, caption) {
  const body = el('tbody', { id: `${id}-rows` });
  const wrap = el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label },
    el('table', { id },
      caption ? el('caption', { className: 'muted' }, caption) : null,
      el('thead', {}, el('tr', {}, columns.map(([title]) => el('th', { scope: 'col' }, title)))),
      body));
  const fill = (rows, rowAttrs) => body.replaceChildren(...rows.map((row) =>
    el('tr', rowAttrs ? rowAttrs(row) : {}, columns.map(([, value]) => {
      const v = value(row);
      return el('td', {}, v === undefined || v === null ? '' : v);
    }))));
  return { wrap, body, fill };
}

// "1.5 MiB"
export function formatBytes(n) {
  if (n === undefined || n === null || Number.isNaN(Number(n))) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

// A status line (aria-live) for a page: set(text) or set(text, true) for an error.
export function statusLine(id) {
  const node = el('p', { className: 'muted', 'aria-live': 'polite', id }, '');
  node.set = (text, isError) => {
    node.textContent = text;
    node.className = isError ? 'error' : 'muted';
  };
  return node;
}
