// What the administration pages (repositories, users, groups, permissions, tokens) share:
// labelled form fields, the confirmation dialog, a list that stays fast with 10k entries, and
// a message carried from a form to the list it returns to.
import { el } from './lib.js';

// ------------------------------------------------------------------ fields

// A labelled text-like input: {type, value, hint, placeholder, autocomplete, readonly, list}.
// The hint is tied to the input with aria-describedby.
export function textField(id, label, opts = {}) {
  const input = el('input', {
    id, name: id, type: opts.type || 'text', value: opts.value ?? '', placeholder: opts.placeholder,
    autocomplete: opts.autocomplete || 'off', readonly: opts.readonly, list: opts.list, min: opts.min,
    inputmode: opts.inputmode, spellcheck: 'false', 'aria-describedby': opts.hint ? `${id}-hint` : null,
  });
  const row = el('div', { className: 'field' },
    el('label', { for: id }, label), input,
    opts.hint ? el('small', { id: `${id}-hint`, className: 'muted' }, opts.hint) : null);
  return { row, input };
}

// A number of seconds, bytes…: the value the API takes is a whole number, validated by the API.
export function numberField(id, label, value, hint) {
  return textField(id, label, { type: 'number', value: value ?? '', min: 0, inputmode: 'numeric', hint });
}

export function checkField(id, label, checked, hint) {
  const input = el('input', { id, name: id, type: 'checkbox', checked: !!checked, 'aria-describedby': hint ? `${id}-hint` : null });
  const row = el('div', { className: 'field check' },
    input, el('label', { for: id }, label),
    hint ? el('small', { id: `${id}-hint`, className: 'muted' }, hint) : null);
  return { row, input };
}

export function selectField(id, label, choices, value, hint) {
  const input = el('select', { id, name: id, 'aria-describedby': hint ? `${id}-hint` : null },
    choices.map((c) => {
      const [v, text] = Array.isArray(c) ? c : [c, c];
      return el('option', { value: v, selected: v === value }, text);
    }));
  const row = el('div', { className: 'field' },
    el('label', { for: id }, label), input,
    hint ? el('small', { id: `${id}-hint`, className: 'muted' }, hint) : null);
  return { row, input };
}

export function textareaField(id, label, value, hint, rows) {
  const input = el('textarea', { id, name: id, rows: rows || 3, spellcheck: 'false', 'aria-describedby': hint ? `${id}-hint` : null });
  input.value = value || '';
  const row = el('div', { className: 'field' },
    el('label', { for: id }, label), input,
    hint ? el('small', { id: `${id}-hint`, className: 'muted' }, hint) : null);
  return { row, input };
}

// "a, b\nc" → ['a', 'b', 'c']
export function splitList(text) {
  return text.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean);
}

// A number field's value for the API: absent when empty, else the number typed (the API
// refuses what is not a whole number, with its own message).
export function numberValue(input) {
  const text = input.value.trim();
  return text === '' ? undefined : Number(text);
}

// A <datalist> of names, for inputs that suggest existing users, groups, repositories.
export function datalist(id, names) {
  return el('datalist', { id }, names.map((n) => el('option', { value: n })));
}

// The form's error line (role=alert: read out when set) and its busy state.
export function formError(id) {
  const node = el('p', { className: 'error', role: 'alert', id }, '');
  node.set = (text) => { node.textContent = text || ''; };
  return node;
}

// ------------------------------------------------------------------ confirmation

// Asks in a modal <dialog> (not window.confirm, which blocks scripts and WebDriver) whether to
// go on; resolves true for the confirming button, false for Cancel or Escape.
export function confirmDialog(question, confirmText = 'Delete') {
  return new Promise((resolve) => {
    const title = el('h2', { id: 'confirm-title' }, 'Please confirm');
    const yes = el('button', { type: 'button', id: 'confirm-yes', className: 'danger' }, confirmText);
    const no = el('button', { type: 'button', id: 'confirm-no', className: 'secondary' }, 'Cancel');
    const dialog = el('dialog', { id: 'confirm-dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      title, el('p', { id: 'confirm-text' }, question), el('div', { className: 'actions' }, yes, no));
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

// ------------------------------------------------------------------ lists

const PAGE_ROWS = 200;

// A filtered list drawn PAGE_ROWS rows at a time ("Show more"), so 10k entries cost the same
// as 200: items are [{..., search: 'lowercased text'}], row(item) makes a <tr>.
export function bigList(id, label, columns, row, itemName) {
  const body = el('tbody', { id: `${id}-rows` });
  const count = el('p', { className: 'muted', id: `${id}-count`, 'aria-live': 'polite' }, '');
  const more = el('button', { type: 'button', className: 'secondary', id: `${id}-more`, hidden: true }, 'Show more');
  let items = [];
  let matching = [];
  let shown = 0;
  let wanted = () => true;
  const drawMore = () => {
    const next = matching.slice(shown, shown + PAGE_ROWS);
    body.append(...next.map(row));
    shown += next.length;
    more.hidden = shown >= matching.length;
    more.textContent = `Show ${Math.min(PAGE_ROWS, matching.length - shown)} more`;
    count.textContent = matching.length === items.length
      ? `${items.length} ${itemName}${shown < matching.length ? `, ${shown} shown` : ''}`
      : `${matching.length} of ${items.length} ${itemName} match${shown < matching.length ? `, ${shown} shown` : ''}`;
  };
  const redraw = () => {
    matching = items.filter(wanted);
    shown = 0;
    body.replaceChildren();
    drawMore();
  };
  more.addEventListener('click', drawMore);
  const wrap = el('div', {},
    count,
    el('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label },
      el('table', { id },
        el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c)))),
        body)),
    el('p', {}, more));
  return {
    wrap,
    body,
    set(list) { items = list; redraw(); },
    filter(fn) { wanted = fn; redraw(); },
    remove(item) { items = items.filter((i) => i !== item); matching = matching.filter((i) => i !== item); },
    count: () => items.length,
  };
}

// A filter box that calls onChange(lowercased text) as one types.
export function filterBox(id, label, placeholder, onChange) {
  const input = el('input', { id, type: 'search', placeholder, autocomplete: 'off', spellcheck: 'false' });
  input.addEventListener('input', () => onChange(input.value.trim().toLowerCase()));
  return { row: el('div', { className: 'filter' }, el('label', { for: id }, label), input), input };
}

// ------------------------------------------------------------------ flash

// A message for the next page (e.g. "Repository x created", shown by the list a form returns to).
let flashText = '';
export function setFlash(text) { flashText = text; }
export function takeFlash() {
  const text = flashText;
  flashText = '';
  return text;
}

// A link styled as a button.
export function linkButton(href, text, attrs) {
  return el('a', { href, className: 'button', ...(attrs || {}) }, text);
}

// "2026-12-07 10:54" from epoch seconds (local time), "" for none.
export function formatTime(secs) {
  if (!secs) return '';
  const d = new Date(secs * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
