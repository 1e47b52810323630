// chat.js: the conversation with the agent on one chat channel
// (PROTOCOL.md §1.4.1).
//
// - A message is shown at once (pending), published with an id chosen
//   here, and confirmed when its ack or the stored event arrives; both
//   carry that id, so it is shown once. Publishes made while offline wait in
//   the client's outbox and are retried with the same id.
// - A reply streams in from `token` signals into a draft keyed by reply_id;
//   the stored `reply` (whose id is that reply_id) replaces the draft in
//   place. Tokens for a reply already stored are ignored; `cancelled` and
//   `error` drop the draft. After a reload, history brings the stored reply.
// - Everything an agent does for one user message (reply_to) is grouped in
//   a turn: steps and tool calls with their results (collapsible),
//   progress, the reply, and how the turn ended.
// - Typing indicators come and go with `typing` signals (dropped 6 s after
//   the last `true`); this page sends its own while the user types.
// - A Stop button publishes `cancel` for the running turn.
// Every stored event is one element carrying data-event-id and data-seq.

import { el, timeEl, prettyJson, errorText, uuid } from './util.js';
import { openFeed } from './feed.js';

const TYPING_TTL_MS = 6000; // receivers drop the indicator 6 s after the last true
const TYPING_REPEAT_MS = 3000; // senders repeat true every 3 s while typing
const TYPING_IDLE_MS = 4000; // this page says false after 4 s without a keystroke
const STALE_TURN_MS = 5 * 60 * 1000; // a turn from history idle this long is not "running"
const MESSAGE_MAX_CHARS = 16000; // stays under max_data_bytes (65,536) in any UTF-8
const HISTORY_LIMIT = 200;

/** "You", or the subject of "<role>:<sub>". */
function displayName(sender, me) {
  if (sender === me) return 'You';
  const i = sender.indexOf(':');
  return i > 0 ? sender.slice(i + 1) : sender;
}

function roleOf(sender) {
  const i = sender.indexOf(':');
  return i > 0 ? sender.slice(0, i) : '';
}

export function mountChat(sb, root, channel, { me, onPresence }) {
  const log = root.querySelector('#chat-log');
  const form = root.querySelector('#chat-form');
  const input = root.querySelector('#chat-input');
  const cancelButton = root.querySelector('#chat-cancel');
  const typingLine = root.querySelector('#chat-typing');
  const formError = root.querySelector('#chat-form-error');
  const status = root.querySelector('.panel-status');
  const empty = root.querySelector('.chat-empty');

  const nodes = new Map(); // event id -> element of a stored (or pending) event
  const turns = new Map(); // reply_to -> turn
  const drafts = new Map(); // reply_id -> {node, text element, pieces, replyTo}
  const storedReplies = new Set(); // reply ids whose reply is stored
  const typers = new Map(); // sender -> timer

  // --- scrolling: follow new content only when the reader is at the bottom
  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }
  function update(fn) {
    const follow = atBottom();
    fn();
    empty.hidden = log.children.length > 0;
    if (follow) log.scrollTop = log.scrollHeight;
  }

  // --- messages -------------------------------------------------------------
  function bubbleHeader(sender, time) {
    const role = roleOf(sender);
    return el('p', { class: 'msg-head' },
      el('span', { class: 'msg-author', text: displayName(sender, me) }),
      role && sender !== me ? el('span', { class: `role role-${role}`, text: role }) : null,
      time ? timeEl(time) : el('span', { class: 'msg-time' }));
  }

  function messageNode(ev, pending) {
    const sender = ev.sender;
    const mine = sender === me;
    const node = el('li', {
      class: `msg ${mine ? 'mine' : 'theirs'} from-${roleOf(sender) || 'other'}${pending ? ' pending' : ''}`,
      dataset: { eventId: ev.id, type: 'message' },
    },
    bubbleHeader(sender, ev.time),
    el('p', { class: 'msg-text', text: String(ev.data?.text ?? '') }),
    el('p', { class: 'msg-state', 'aria-live': 'polite' }));
    if (ev.seq) node.dataset.seq = ev.seq;
    return node;
  }

  function setMessageState(node, text, retry) {
    const state = node.querySelector('.msg-state');
    state.replaceChildren(text);
    if (retry) state.append(' ', el('button', { type: 'button', class: 'link-button', onclick: retry, text: 'Retry' }));
  }

  function confirmMessage(node, seq, time) {
    node.classList.remove('pending', 'failed');
    if (seq && !node.dataset.seq) node.dataset.seq = seq;
    if (time && !node.querySelector('time')) {
      node.querySelector('.msg-time')?.replaceWith(timeEl(time));
    }
    setMessageState(node, '');
  }

  // --- turns: what the agent does for one user message -------------------------
  function turnFor(replyTo, { create = true } = {}) {
    let turn = turns.get(replyTo);
    if (turn || !create) return turn;
    const work = el('details', { class: 'work', hidden: true },
      el('summary', { class: 'work-summary' }),
      el('ol', { class: 'work-list' }));
    const progress = el('div', { class: 'progress', hidden: true },
      el('span', { class: 'progress-label' }),
      el('progress', { max: 1 }));
    const replies = el('div', { class: 'replies' });
    const notes = el('div', { class: 'turn-notes' });
    const node = el('li', { class: 'turn', dataset: { replyTo } }, work, progress, replies, notes);
    const message = nodes.get(replyTo);
    if (message && message.parentNode === log) message.after(node);
    else log.append(node);
    turn = { node, work, progress, replies, notes, steps: 0, tools: 0, state: 'idle', mine: false, cancelRequested: false, lastActivity: 0 };
    turns.set(replyTo, turn);
    return turn;
  }

  function touchTurn(turn, time) {
    if (turn.state === 'done' || turn.state === 'cancelled' || turn.state === 'error') return;
    turn.state = 'running';
    turn.lastActivity = Math.max(turn.lastActivity, time ? new Date(time).getTime() || Date.now() : Date.now());
    refreshCancel();
  }

  function endTurn(turn, state) {
    turn.state = state;
    turn.progress.hidden = true;
    turn.node.dataset.state = state;
    refreshCancel();
  }

  function refreshWorkSummary(turn) {
    const parts = [];
    if (turn.steps) parts.push(`${turn.steps} ${turn.steps === 1 ? 'step' : 'steps'}`);
    if (turn.tools) parts.push(`${turn.tools} ${turn.tools === 1 ? 'tool call' : 'tool calls'}`);
    turn.work.querySelector('.work-summary').textContent = `Agent work: ${parts.join(', ')}`;
    turn.work.hidden = parts.length === 0;
  }

  function runningTurns() {
    const now = Date.now();
    return [...turns.entries()].filter(([, t]) => t.state === 'running' &&
      (t.mine || now - t.lastActivity < STALE_TURN_MS));
  }

  function refreshCancel() {
    const running = runningTurns();
    cancelButton.hidden = running.length === 0;
    const [, newest] = running[running.length - 1] || [];
    cancelButton.disabled = Boolean(newest?.cancelRequested);
    cancelButton.textContent = newest?.cancelRequested ? 'Stopping…' : 'Stop reply';
  }

  // --- agent work inside a turn ----------------------------------------------
  function addStep(ev) {
    const d = ev.data || {};
    const turn = turnFor(d.reply_to);
    turn.steps += 1;
    const done = d.status === 'completed';
    turn.work.querySelector('.work-list').append(el('li', {
      class: `step ${done ? 'step-done' : 'step-started'}`, dataset: { eventId: ev.id, seq: ev.seq },
    }, el('span', { class: 'step-status', text: done ? 'done' : 'started' }), ' ',
    el('span', { class: 'step-name', text: String(d.step ?? '') }),
    d.agent ? el('span', { class: 'step-agent', text: ` · ${d.agent}` }) : null));
    refreshWorkSummary(turn);
    touchTurn(turn, ev.time);
  }

  function addToolCall(ev) {
    const d = ev.data || {};
    const turn = turnFor(d.reply_to);
    turn.tools += 1;
    const call = el('li', { class: 'tool running', dataset: { eventId: ev.id, seq: ev.seq, callId: String(d.call_id ?? '') } },
      el('details', {},
        el('summary', {},
          el('span', { class: 'tool-name', text: String(d.tool ?? 'tool') }),
          el('span', { class: 'tool-state', text: 'running…' })),
        el('p', { class: 'tool-label', text: 'Input' }),
        el('pre', { class: 'tool-json', text: prettyJson(d.input ?? {}) })));
    turn.work.querySelector('.work-list').append(call);
    refreshWorkSummary(turn);
    touchTurn(turn, ev.time);
  }

  function addToolResult(ev) {
    const d = ev.data || {};
    const turn = turnFor(d.reply_to);
    const list = turn.work.querySelector('.work-list');
    let call = [...list.querySelectorAll('li.tool')].find((li) => li.dataset.callId === String(d.call_id ?? ''));
    if (!call) { // the call is older than the history shown
      turn.tools += 1;
      call = el('li', { class: 'tool', dataset: { callId: String(d.call_id ?? '') } },
        el('details', {}, el('summary', {},
          el('span', { class: 'tool-name', text: String(d.tool ?? 'tool') }),
          el('span', { class: 'tool-state' }))));
      list.append(call);
      refreshWorkSummary(turn);
    }
    const ok = d.ok !== false;
    const ms = Number.isInteger(d.duration_ms) ? ` in ${d.duration_ms} ms` : '';
    call.classList.remove('running');
    call.classList.add(ok ? 'ok' : 'failed');
    call.querySelector('.tool-state').textContent = ok ? `done${ms}` : `failed${ms}`;
    call.querySelector('details').append(el('div', { class: 'tool-result', dataset: { eventId: ev.id, seq: ev.seq } },
      el('p', { class: 'tool-label', text: ok ? 'Output' : `Error: ${d.error ?? 'failed'}` }),
      d.output !== undefined ? el('pre', { class: 'tool-json', text: prettyJson(d.output) }) : null));
    touchTurn(turn, ev.time);
  }

  function addNote(ev, text, kind) {
    const replyTo = ev.data?.reply_to;
    const note = el('p', { class: `turn-note note-${kind}`, dataset: { eventId: ev.id, seq: ev.seq, type: ev.type } },
      el('span', { text }), ' ', timeEl(ev.time));
    if (replyTo) {
      turnFor(replyTo).notes.append(note);
    } else {
      log.append(el('li', { class: 'turn' }, note));
    }
    return replyTo ? turns.get(replyTo) : null;
  }

  // --- streamed replies ----------------------------------------------------------
  function replyNode(sender, replyId) {
    return el('div', { class: `msg theirs from-${roleOf(sender) || 'other'} reply draft`, dataset: { replyId } },
      bubbleHeader(sender, null),
      el('p', { class: 'msg-text' }));
  }

  function onToken(sig) {
    const d = sig.data || {};
    if (!d.reply_id || storedReplies.has(d.reply_id) || !Number.isInteger(d.index) || d.index < 0) return;
    let draft = drafts.get(d.reply_id);
    if (!draft) {
      const turn = turnFor(d.reply_to);
      if (turn.state === 'cancelled' || turn.state === 'error') return;
      const node = replyNode(sig.sender, d.reply_id);
      node.setAttribute('aria-busy', 'true');
      turn.replies.append(node);
      draft = { node, text: node.querySelector('.msg-text'), pieces: [], replyTo: d.reply_to };
      drafts.set(d.reply_id, draft);
      touchTurn(turn);
    }
    draft.pieces[d.index] = String(d.text ?? '');
    // A missing index is a lost signal: show what arrived, in index order.
    draft.text.textContent = draft.pieces.filter((p) => p !== undefined).join('');
    stopTyping(sig.sender);
  }

  function onReply(ev) {
    const d = ev.data || {};
    storedReplies.add(ev.id);
    const draft = drafts.get(ev.id);
    drafts.delete(ev.id);
    const turn = d.reply_to ? turnFor(d.reply_to) : null;
    let node = draft?.node;
    if (!node) {
      node = replyNode(ev.sender, ev.id);
      if (turn) turn.replies.append(node);
      else log.append(el('li', { class: 'turn' }, node));
    }
    node.classList.remove('draft');
    node.removeAttribute('aria-busy');
    node.dataset.eventId = ev.id;
    node.dataset.seq = ev.seq;
    node.dataset.type = 'reply';
    node.querySelector('.msg-text').textContent = String(d.text ?? '');
    node.querySelector('.msg-time')?.replaceWith(timeEl(ev.time));
    if (turn) endTurn(turn, 'done');
    stopTyping(ev.sender);
  }

  function dropDrafts(replyTo) {
    for (const [replyId, draft] of drafts) {
      if (draft.replyTo !== replyTo) continue;
      draft.node.remove();
      drafts.delete(replyId);
    }
  }

  // --- typing --------------------------------------------------------------------
  function renderTyping() {
    const names = [...typers.keys()].map((s) => displayName(s, me));
    typingLine.textContent = names.length === 0 ? ''
      : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }

  function stopTyping(sender) {
    if (!typers.has(sender)) return;
    clearTimeout(typers.get(sender));
    typers.delete(sender);
    renderTyping();
  }

  function onTyping(sig) {
    if (sig.sender === me) return;
    stopTyping(sig.sender);
    if (sig.data?.active === true) {
      typers.set(sig.sender, setTimeout(() => stopTyping(sig.sender), TYPING_TTL_MS));
      renderTyping();
    }
  }

  function onProgress(sig) {
    const d = sig.data || {};
    if (!d.reply_to) return;
    const turn = turnFor(d.reply_to);
    if (turn.state === 'done' || turn.state === 'cancelled' || turn.state === 'error') return;
    const bar = turn.progress.querySelector('progress');
    const total = Number.isInteger(d.total) && d.total > 0 ? d.total : null;
    if (total) {
      bar.max = total;
      bar.value = Math.min(Number(d.current) || 0, total);
    } else {
      bar.removeAttribute('value');
    }
    const count = total ? `${d.current} of ${total}` : `${d.current ?? ''}`;
    turn.progress.querySelector('.progress-label').textContent = d.label ? `${d.label} (${count})` : `Working: ${count}`;
    bar.setAttribute('aria-label', turn.progress.querySelector('.progress-label').textContent);
    turn.progress.hidden = false;
    touchTurn(turn);
  }

  // --- events in, by type --------------------------------------------------------
  function onEvent(ev) {
    const d = ev.data || {};
    update(() => {
      switch (ev.type) {
        case 'message':
          if (nodes.has(ev.id)) {
            confirmMessage(nodes.get(ev.id), ev.seq, ev.time);
          } else {
            const node = messageNode(ev, false);
            nodes.set(ev.id, node);
            if (d.reply_to && turns.has(d.reply_to)) turns.get(d.reply_to).replies.append(node);
            else log.append(node);
          }
          break;
        case 'reply': onReply(ev); break;
        case 'agent_step': addStep(ev); break;
        case 'tool_call': addToolCall(ev); break;
        case 'tool_result': addToolResult(ev); break;
        case 'cancel': {
          const turn = addNote(ev, `${displayName(ev.sender, me)} asked to stop`, 'cancel');
          if (turn) { turn.cancelRequested = true; refreshCancel(); }
          break;
        }
        case 'cancelled': {
          dropDrafts(d.reply_to);
          const turn = addNote(ev, `Stopped${d.reason ? `: ${d.reason}` : ''}`, 'cancelled');
          if (turn) endTurn(turn, 'cancelled');
          stopTyping(ev.sender);
          break;
        }
        case 'error': {
          dropDrafts(d.reply_to);
          const turn = addNote(ev, `The agent failed: ${d.message ?? 'unknown error'}${d.code ? ` (${d.code})` : ''}`, 'error');
          if (turn) endTurn(turn, 'error');
          stopTyping(ev.sender);
          break;
        }
        default:
          break; // types this dashboard does not show
      }
    });
  }

  function onSignal(sig) {
    if (sig.type.startsWith('presence.')) {
      onPresence?.(sig);
      return;
    }
    update(() => {
      if (sig.type === 'token') onToken(sig);
      else if (sig.type === 'typing') onTyping(sig);
      else if (sig.type === 'progress') onProgress(sig);
    });
  }

  function clear() {
    log.replaceChildren();
    nodes.clear();
    turns.clear();
    drafts.clear();
    storedReplies.clear();
    refreshCancel();
  }

  const feed = openFeed(sb, channel, {
    onEvent,
    onSignal,
    onClear: clear,
    onError(err) {
      status.textContent = `Could not load the conversation: ${errorText(err)}`;
      status.classList.add('is-error');
    },
  }, { historyLimit: HISTORY_LIMIT });
  feed.started.then(() => {
    if (!status.classList.contains('is-error')) status.textContent = '';
    update(() => { log.scrollTop = log.scrollHeight; });
  });

  // --- sending ---------------------------------------------------------------------
  function publishMessage(id, text, node) {
    setMessageState(node, sb.state === 'connected' ? 'Sending…' : 'Waiting for the connection…');
    node.classList.add('pending');
    node.classList.remove('failed');
    sb.publish(channel, { type: 'message', data: { text }, id })
      .then((ack) => confirmMessage(node, ack.seq, null))
      .catch((err) => {
        node.classList.remove('pending');
        node.classList.add('failed');
        setMessageState(node, `Not sent: ${errorText(err)}`, () => publishMessage(id, text, node));
        const turn = turns.get(id);
        if (turn && turn.state === 'running') endTurn(turn, 'idle');
      });
  }

  function send() {
    const text = input.value.trim();
    formError.textContent = '';
    if (!text) return;
    if (text.length > MESSAGE_MAX_CHARS) {
      formError.textContent = `The message is too long (${text.length} characters; at most ${MESSAGE_MAX_CHARS}).`;
      return;
    }
    const id = uuid();
    const node = messageNode({ id, sender: me || 'you', data: { text } }, true);
    nodes.set(id, node);
    update(() => {
      log.append(node);
      log.scrollTop = log.scrollHeight;
    });
    const turn = turnFor(id);
    turn.mine = true;
    touchTurn(turn);
    input.value = '';
    sendTyping(false);
    publishMessage(id, text, node);
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });

  // This page's own typing signals: best effort, dropped while offline.
  let typingSentAt = 0;
  let idleTimer = null;
  function sendTyping(active) {
    clearTimeout(idleTimer);
    if (!active && typingSentAt === 0) return;
    typingSentAt = active ? Date.now() : 0;
    sb.signal(channel, { type: 'typing', data: { active } }).catch(() => {});
  }
  input.addEventListener('input', () => {
    if (!input.value) { sendTyping(false); return; }
    if (Date.now() - typingSentAt > TYPING_REPEAT_MS) sendTyping(true);
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
  });
  input.addEventListener('blur', () => sendTyping(false));

  cancelButton.addEventListener('click', () => {
    const running = runningTurns();
    if (running.length === 0) return;
    const [replyTo, turn] = running[running.length - 1];
    turn.cancelRequested = true;
    refreshCancel();
    sb.publish(channel, { type: 'cancel', data: { reply_to: replyTo }, id: uuid() }).catch((err) => {
      turn.cancelRequested = false;
      refreshCancel();
      formError.textContent = `Could not ask the agent to stop: ${errorText(err)}`;
    });
  });

  refreshCancel();
  update(() => {});
  return feed;
}
