// presence.js: who is online in the chat channel (PROTOCOL.md §1.4.4,
// §4.10). The member list is asked for after every (re)connect, because
// join and leave are signals and may be missed while away; in between,
// presence.join and presence.leave keep it current, and the list is asked
// for again every few seconds while connected (a signal can be lost, and our
// own subscription may register after the first answer). A subject with
// several connections (tabs) is listed once.

import { el, errorText } from './util.js';

const RELOAD_EVERY_MS = 5000;

export function mountPresence(sb, root, channel, { me }) {
  const list = root.querySelector('#presence-list');
  const count = root.querySelector('.presence-count');
  const note = root.querySelector('.panel-status');
  const online = new Map(); // subject -> connection count

  function render() {
    const subjects = [...online.keys()].sort((a, b) => {
      if (a === me) return -1;
      if (b === me) return 1;
      return a.localeCompare(b);
    });
    list.replaceChildren(...subjects.map((subject) => {
      const i = subject.indexOf(':');
      const role = i > 0 ? subject.slice(0, i) : '';
      const name = i > 0 ? subject.slice(i + 1) : subject;
      const n = online.get(subject);
      return el('li', { class: 'member', dataset: { subject, role: role || 'other' } },
        el('span', { class: 'dot', 'aria-hidden': 'true' }),
        el('span', { class: 'member-name', text: name }),
        subject === me ? el('span', { class: 'member-you', text: '(you)' }) : null,
        role ? el('span', { class: `role role-${role}`, text: role }) : null,
        n > 1 ? el('span', { class: 'member-conns', text: `${n} connections` }) : null);
    }));
    count.textContent = `${subjects.length} online`;
  }

  async function load() {
    try {
      const members = await sb.presence(channel);
      online.clear();
      for (const m of members || []) online.set(m.subject, (online.get(m.subject) || 0) + 1);
      note.textContent = sb.transport && sb.transport !== 'websocket'
        ? 'This page is on a fallback transport and is not listed itself.' : '';
      note.classList.remove('is-error');
      render();
    } catch (err) {
      note.textContent = `Could not load who is online: ${errorText(err)}`;
      note.classList.add('is-error');
    }
  }

  let again = null;
  sb.on('state', ({ state }) => {
    clearInterval(again);
    again = null;
    if (state !== 'connected') return;
    load();
    again = setInterval(load, RELOAD_EVERY_MS);
  });
  if (sb.state === 'connected') {
    load();
    again = setInterval(load, RELOAD_EVERY_MS);
  }
  render();

  return {
    /** Apply a presence.join or presence.leave signal. */
    onSignal(sig) {
      const d = sig.data || {};
      if (typeof d.subject !== 'string') return;
      const n = Number.isInteger(d.connections) ? d.connections : null;
      if (sig.type === 'presence.join') online.set(d.subject, n ?? (online.get(d.subject) || 0) + 1);
      else if (sig.type === 'presence.leave' && (n === 0 || n === null)) online.delete(d.subject);
      else if (sig.type === 'presence.leave') online.set(d.subject, n);
      render();
    },
  };
}
