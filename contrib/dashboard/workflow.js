// workflow.js: the statistics card of one workflow channel (workflow:demo),
// counted by the database from the workflow's task rows (PROTOCOL.md
// §1.4.3, §5.12). It shows the stored stats at once (GET
// /workflows/{channel}/stats on load and after every reconnect) and then
// every workflow.stats event the database publishes when a task changes.

import { el, timeEl, errorText } from './util.js';
import { openFeed } from './feed.js';

const COUNTS = ['queued', 'active', 'completed', 'failed', 'cancelled'];

export function mountWorkflow(sb, root, channel) {
  const status = root.querySelector('.panel-status');
  const bar = root.querySelector('.stack-bar');
  const current = root.querySelector('.current-task');
  let applied = 0; // how many stats have been shown, to tell a stale GET answer
  let last = null;

  function render(stats, time) {
    applied += 1;
    for (const key of [...COUNTS, 'total']) {
      const dd = root.querySelector(`[data-stat="${key}"]`);
      const value = Number.isInteger(stats[key]) ? stats[key] : 0;
      if (last && last[key] !== value) {
        dd.classList.remove('changed');
        void dd.offsetWidth; // restart the highlight animation
        dd.classList.add('changed');
      }
      dd.textContent = String(value);
    }
    const total = Number.isInteger(stats.total) ? stats.total : 0;
    bar.replaceChildren(...COUNTS.filter((k) => stats[k] > 0).map((k) =>
      el('span', { class: `seg seg-${k}`, style: `flex-grow:${stats[k]}`, title: `${k}: ${stats[k]}` })));
    bar.hidden = total === 0;
    const task = stats.current_task;
    if (task && typeof task === 'object') {
      current.replaceChildren(
        el('p', { class: 'current-label', text: 'Running now' }),
        el('p', { class: 'current-title', text: String(task.title ?? '') }),
        el('p', { class: 'current-meta' },
          task.current_step ? el('span', { text: `step: ${task.current_step}` }) : null,
          task.current_step && task.started_at ? ' · started ' : task.started_at ? 'started ' : null,
          task.started_at ? timeEl(task.started_at) : null));
    } else {
      current.replaceChildren(el('p', { class: 'current-none', text: total ? 'No task is running.' : 'No tasks yet.' }));
    }
    status.classList.remove('is-error');
    status.replaceChildren('Updated ', timeEl(time || new Date().toISOString()));
    last = { ...stats };
    root.dataset.updates = String(applied);
  }

  async function fetchStats() {
    const before = applied;
    try {
      const stats = await sb.request('GET', `/workflows/${encodeURIComponent(channel)}/stats`);
      if (applied === before) render(stats, null); // no newer event arrived meanwhile
    } catch (err) {
      status.textContent = `Could not load the statistics: ${errorText(err)}`;
      status.classList.add('is-error');
    }
  }

  const feed = openFeed(sb, channel, {
    onEvent(ev) {
      if (ev.type === 'workflow.stats' && ev.data) render(ev.data, ev.time);
    },
    onError(err) {
      status.textContent = `Could not load the statistics: ${errorText(err)}`;
      status.classList.add('is-error');
    },
  }, { historyLimit: 1 });
  feed.started.then(fetchStats);
  let seenConnected = sb.state === 'connected';
  sb.on('state', ({ state }) => {
    if (state !== 'connected') return;
    if (seenConnected) fetchStats();
    seenConnected = true;
  });
  return feed;
}
