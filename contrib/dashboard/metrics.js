// metrics.js: the metrics panel (PROTOCOL.md §4.12, §5.13): a snapshot of
// the system over a chosen window (1..168 h), checked by the server at a
// chosen interval (1..60 s) and pushed only when it changed. The page
// re-renders only when the values differ from what it shows, so a refresh
// that brings the same numbers changes nothing but the "checked" time.
// The choices are remembered in localStorage.

import { el, timeEl, errorText } from './util.js';

const STORAGE_KEY = 'switchboard.metrics';
const WINDOW_MIN = 1;
const WINDOW_MAX = 168;
const INTERVAL_MIN = 1;
const INTERVAL_MAX = 60;

// Which numbers are shown, grouped as in the snapshot.
const GROUPS = [
  ['chat', 'Chat', [['messages', 'messages'], ['replies', 'replies'], ['tool_calls', 'tool calls'], ['errors', 'errors'], ['cancelled', 'cancelled']]],
  ['activity', 'Activity log', [['info', 'info'], ['success', 'success'], ['warning', 'warning'], ['error', 'error']]],
  ['tasks', 'Tasks created', [['queued', 'queued'], ['active', 'active'], ['completed', 'completed'], ['failed', 'failed'], ['cancelled', 'cancelled']]],
];

function clamp(value, min, max, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function loadChoice() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || '{}');
    return {
      windowHours: clamp(saved.windowHours, WINDOW_MIN, WINDOW_MAX, 24),
      intervalSeconds: clamp(saved.intervalSeconds, INTERVAL_MIN, INTERVAL_MAX, 5),
    };
  } catch {
    return { windowHours: 24, intervalSeconds: 5 };
  }
}

function saveChoice(choice) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(choice));
  } catch {
    /* storage disabled */
  }
}

/** Select value, adding the saved value as an option when it is not a preset. */
function selectValue(select, value, unit) {
  if (![...select.options].some((o) => o.value === String(value))) {
    select.append(el('option', { value, text: `${value} ${unit}` }));
  }
  select.value = String(value);
}

function num(value) {
  return Number.isFinite(value) ? value.toLocaleString() : '–';
}

function render(grid, data) {
  const events = data.events || {};
  const namespaces = Object.entries(events.by_namespace || {}).sort((a, b) => b[1] - a[1]);
  const top = Math.max(1, ...namespaces.map(([, n]) => n));
  const blocks = [
    el('section', { class: 'metric-block metric-events' },
      el('h3', { text: 'Events stored' }),
      el('p', { class: 'metric-big', dataset: { metric: 'events.total' }, text: num(events.total) }),
      el('ul', { class: 'ns-bars' }, ...namespaces.map(([ns, n]) => el('li', {},
        el('span', { class: 'ns-name', text: ns }),
        el('span', { class: 'ns-bar', 'aria-hidden': 'true' }, el('span', { style: `width:${(100 * n) / top}%` })),
        el('span', { class: 'ns-count', text: num(n) }))))),
  ];
  for (const [key, title, fields] of GROUPS) {
    const group = data[key] || {};
    blocks.push(el('section', { class: `metric-block metric-${key}` },
      el('h3', { text: title }),
      el('dl', {}, ...fields.map(([field, label]) => el('div', {},
        el('dt', { text: label }),
        el('dd', { dataset: { metric: `${key}.${field}` }, text: num(group[field]) }))))));
  }
  const nodes = data.nodes || {};
  blocks.push(el('section', { class: 'metric-block metric-live' },
    el('h3', { text: 'Live now' }),
    el('dl', {},
      el('div', {}, el('dt', { text: 'wsd nodes' }), el('dd', { dataset: { metric: 'nodes.wsd' }, text: num(nodes.wsd) })),
      el('div', {}, el('dt', { text: 'fcgi nodes' }), el('dd', { dataset: { metric: 'nodes.fcgi' }, text: num(nodes.fcgi) })),
      el('div', {}, el('dt', { text: 'connections' }), el('dd', { dataset: { metric: 'connections' }, text: num(data.connections) })),
      el('div', {}, el('dt', { text: 'subscriptions' }), el('dd', { dataset: { metric: 'subscriptions' }, text: num(data.subscriptions) })))));
  grid.replaceChildren(...blocks);
}

export function mountMetrics(sb, root) {
  const windowSelect = root.querySelector('#metrics-window');
  const intervalSelect = root.querySelector('#metrics-interval');
  const refreshButton = root.querySelector('.metrics-refresh');
  const grid = root.querySelector('.metrics-grid');
  const status = root.querySelector('.panel-status');
  const choice = loadChoice();
  let shown = null; // JSON of the data on screen
  let changes = 0;
  let changedAt = null;

  selectValue(windowSelect, choice.windowHours, 'h');
  selectValue(intervalSelect, choice.intervalSeconds, 's');

  function renderStatus(checkedAt) {
    status.classList.remove('is-error');
    status.replaceChildren(
      `Window ${choice.windowHours} h, checked every ${choice.intervalSeconds} s. `,
      changedAt ? 'Changed ' : '', changedAt ? timeEl(changedAt) : '',
      checkedAt ? '; last snapshot ' : '', checkedAt ? timeEl(checkedAt) : '', '.');
  }

  function onSnapshot(snapshot) {
    const data = snapshot?.data ?? snapshot;
    if (!data || typeof data !== 'object') return;
    const json = JSON.stringify(data);
    const generated = snapshot.generated_at || new Date().toISOString();
    if (json !== shown) {
      shown = json;
      changes += 1;
      changedAt = generated;
      render(grid, data);
      root.dataset.changes = String(changes);
    }
    renderStatus(generated);
  }

  const sub = sb.metrics({ ...choice }, onSnapshot);
  sb.on('error', (err) => {
    if (err?.code === 'forbidden' && /metrics/.test(err.message || '')) {
      status.textContent = 'This token may not read metrics (it needs metrics:overview).';
      status.classList.add('is-error');
    }
  });

  function changed() {
    choice.windowHours = clamp(windowSelect.value, WINDOW_MIN, WINDOW_MAX, 24);
    choice.intervalSeconds = clamp(intervalSelect.value, INTERVAL_MIN, INTERVAL_MAX, 5);
    saveChoice(choice);
    sub.update({ ...choice });
    renderStatus(null);
  }
  windowSelect.addEventListener('change', changed);
  intervalSelect.addEventListener('change', changed);
  refreshButton.addEventListener('click', async () => {
    refreshButton.disabled = true;
    try {
      await sub.refresh();
    } catch (err) {
      status.textContent = `Could not refresh: ${errorText(err)}`;
      status.classList.add('is-error');
    } finally {
      refreshButton.disabled = false;
    }
  });
  return sub;
}
