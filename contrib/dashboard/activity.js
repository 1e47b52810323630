// activity.js: the activity feed of one channel (activity:main): stored
// history on open, live `log` events (PROTOCOL.md §1.4.2) coloured by level,
// newest first, relative times, a level filter, and a full-text search
// through GET /activity (§5.11) that pages with its cursor.

import { el, timeEl, errorText } from './util.js';
import { openFeed } from './feed.js';

const LEVELS = ['info', 'success', 'warning', 'error'];
const LEVEL_TEXT = { info: 'Info', success: 'Success', warning: 'Warning', error: 'Error' };
const SHOWN_MAX = 500; // entries kept in the live list; older ones are dropped from the page
const SEARCH_PAGE = 50;
const METADATA_CHARS = 160;

function metadataText(metadata) {
  if (!metadata || typeof metadata !== 'object') return '';
  const text = Object.entries(metadata)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return text.length > METADATA_CHARS ? `${text.slice(0, METADATA_CHARS)}…` : text;
}

/** One list item for a log event. */
function entry(ev) {
  const data = ev.data || {};
  const level = LEVELS.includes(data.level) ? data.level : 'info';
  const meta = metadataText(data.metadata);
  return el('li', { class: `log level-${level}`, dataset: { eventId: ev.id, seq: ev.seq, level } },
    el('span', { class: 'badge', text: LEVEL_TEXT[level] }),
    el('div', { class: 'log-body' },
      el('p', { class: 'log-message', text: String(data.message ?? '') }),
      el('p', { class: 'log-meta' },
        timeEl(ev.time), ' · ', el('span', { class: 'sender', text: ev.sender }),
        meta ? el('span', { class: 'metadata', title: meta, text: ` · ${meta}` }) : null)));
}

/**
 * Mount the feed for channel in root (see index.html for the parts it
 * expects). Returns the feed handle.
 */
export function mountActivity(sb, root, channel) {
  const list = root.querySelector('#activity-feed');
  const results = root.querySelector('#activity-results');
  const resultsList = results.querySelector('ol');
  const resultsSummary = results.querySelector('.results-summary');
  const moreResults = results.querySelector('.results-more');
  const backButton = results.querySelector('.results-back');
  const searchForm = root.querySelector('#activity-search');
  const searchInput = searchForm.querySelector('input[type="search"]');
  const levelBoxes = [...root.querySelectorAll('input[name="level"]')];
  const status = root.querySelector('.panel-status');
  const olderButton = root.querySelector('.activity-older');
  const empty = root.querySelector('.activity-empty');
  let searchCursor = null;
  let newWhileSearching = 0;

  const enabledLevels = () => levelBoxes.filter((b) => b.checked).map((b) => b.value);

  function applyFilter(item) {
    item.hidden = !enabledLevels().includes(item.dataset.level);
  }

  function refreshCounts() {
    const total = list.children.length;
    const shown = [...list.children].filter((li) => !li.hidden).length;
    empty.hidden = total > 0;
    status.textContent = total === shown ? `${total} entries` : `${shown} of ${total} entries shown`;
  }

  function setStatusError(message) {
    status.textContent = message;
    status.classList.add('is-error');
  }

  const feed = openFeed(sb, channel, {
    onEvent(ev) {
      if (ev.type !== 'log') return;
      const item = entry(ev);
      applyFilter(item);
      list.prepend(item);
      while (list.children.length > SHOWN_MAX) list.lastElementChild.remove();
      if (!results.hidden) {
        newWhileSearching += 1;
        backButton.textContent = `Back to live feed (${newWhileSearching} new)`;
      }
      status.classList.remove('is-error');
      refreshCounts();
    },
    onClear() {
      list.replaceChildren();
      refreshCounts();
    },
    onError(err) {
      setStatusError(`Could not load the activity history: ${errorText(err)}`);
    },
  });
  feed.started.then(() => {
    olderButton.hidden = !feed.hasOlder();
  });

  olderButton.addEventListener('click', async () => {
    olderButton.disabled = true;
    try {
      const { events, more } = await feed.loadOlder();
      for (let i = events.length - 1; i >= 0; i -= 1) {
        if (events[i].type !== 'log') continue;
        const item = entry(events[i]);
        applyFilter(item);
        list.append(item);
      }
      olderButton.hidden = !more;
      refreshCounts();
    } catch (err) {
      setStatusError(`Could not load older entries: ${errorText(err)}`);
    } finally {
      olderButton.disabled = false;
    }
  });

  for (const box of levelBoxes) {
    box.addEventListener('change', () => {
      for (const item of list.children) applyFilter(item);
      refreshCounts();
      if (!results.hidden) runSearch(false);
    });
  }

  async function runSearch(more) {
    const q = searchInput.value.trim();
    if (!q) {
      leaveSearch();
      return;
    }
    const params = new URLSearchParams({ channel, q, limit: String(SEARCH_PAGE) });
    const levels = enabledLevels();
    if (levels.length === 0) {
      resultsList.replaceChildren();
      resultsSummary.textContent = 'No level selected.';
      results.hidden = false;
      list.hidden = true;
      return;
    }
    if (levels.length < LEVELS.length) params.set('level', levels.join(','));
    if (more && searchCursor) params.set('cursor', searchCursor);
    results.hidden = false;
    list.hidden = true;
    olderButton.classList.add('is-searching');
    resultsSummary.textContent = 'Searching…';
    try {
      const body = await sb.request('GET', `/activity?${params}`);
      if (!more) resultsList.replaceChildren();
      for (const ev of body.events || []) resultsList.append(entry(ev));
      searchCursor = body.cursor || null;
      moreResults.hidden = !searchCursor;
      const n = resultsList.children.length;
      resultsSummary.textContent = `${n}${searchCursor ? '+' : ''} ${n === 1 ? 'entry matches' : 'entries match'} “${q}”`;
    } catch (err) {
      resultsSummary.textContent = `Search failed: ${errorText(err)}`;
      moreResults.hidden = true;
    }
  }

  function leaveSearch() {
    results.hidden = true;
    list.hidden = false;
    olderButton.classList.remove('is-searching');
    resultsList.replaceChildren();
    searchCursor = null;
    newWhileSearching = 0;
    backButton.textContent = 'Back to live feed';
  }

  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    runSearch(false);
  });
  searchInput.addEventListener('search', () => {
    if (!searchInput.value) leaveSearch();
  });
  moreResults.addEventListener('click', () => runSearch(true));
  backButton.addEventListener('click', () => {
    searchInput.value = '';
    leaveSearch();
    searchInput.focus();
  });
  refreshCounts();
  return feed;
}
