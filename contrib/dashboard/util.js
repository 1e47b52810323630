// util.js: small DOM and formatting helpers shared by the dashboard's
// modules. Nothing here talks to the server.

/** Create an element: el('li', {class: 'x', dataset: {seq: 4}}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A random RFC 4122 version 4 UUID, also outside secure contexts. */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const RELATIVE_STEPS = [
  [60, 1, 'second'],
  [3600, 60, 'minute'],
  [86400, 3600, 'hour'],
  [604800, 86400, 'day'],
  [Infinity, 604800, 'week'],
];
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "just now", "3 minutes ago", ... for a Date relative to now (ms). */
export function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  if (Math.abs(seconds) < 10) return 'just now';
  for (const [limit, unit, name] of RELATIVE_STEPS) {
    if (Math.abs(seconds) < limit) return relativeFormat.format(Math.round(seconds / unit), name);
  }
  return date.toLocaleString();
}

/** A <time> element that shows a relative time and keeps it current. */
export function timeEl(iso) {
  const date = new Date(iso);
  const valid = !Number.isNaN(date.getTime());
  return el('time', {
    datetime: valid ? date.toISOString() : undefined,
    title: valid ? date.toLocaleString() : undefined,
    dataset: { rel: '' },
    text: valid ? relativeTime(date) : '',
  });
}

/** Every interval, rewrite the text of every relative <time> in the page. */
export function startRelativeClock(intervalMs = 15000) {
  const tick = () => {
    const now = Date.now();
    for (const t of document.querySelectorAll('time[data-rel]')) {
      const date = new Date(t.getAttribute('datetime'));
      if (!Number.isNaN(date.getTime())) t.textContent = relativeTime(date, now);
    }
  };
  return setInterval(tick, intervalMs);
}

/** Pretty JSON for tool inputs and outputs, bounded so a huge value cannot stall the page. */
export function prettyJson(value, maxChars = 20000) {
  let text;
  try {
    text = JSON.stringify(value, null, 2);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > maxChars ? `${text.slice(0, maxChars)}\n… (${text.length - maxChars} more characters)` : text;
}

/** A short human text for an error thrown by the client or the browser. */
export function errorText(err) {
  if (!err) return 'unknown error';
  const code = err.code ? `${err.code}: ` : '';
  return `${code}${err.message || String(err)}`;
}

/** Channel name grammar of PROTOCOL.md §1.1. */
export function isValidChannel(name) {
  return typeof name === 'string' && name.length <= 161 &&
    /^[a-z][a-z0-9_]{0,31}:[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$/.test(name);
}

/** Show or hide a node. */
export function show(node, visible) {
  node.hidden = !visible;
}
