// feed.js: one channel as a gapless stream for a panel: the newest page of
// history first, then a subscription that resumes right after it
// (PROTOCOL.md §2.3), every durable event handed over once in seq order
// (§2.4), and a fresh start when the server says the position is gone (§2.7).
//
// The client already resumes subscriptions after a reconnect and drops what
// it has delivered; the seq check here keeps a panel correct even if the
// same event reaches it twice by two paths (history and live).

const SIGNAL_IDS_KEPT = 512; // signal ids remembered to drop a repeated one (§2.6)

/**
 * Open channel on sb. handlers:
 *   onEvent(ev, {replay})  a durable event, once, in seq order; replay is
 *                          true for events from history
 *   onSignal(sig)          an ephemeral signal (typing, token, presence...)
 *   onClear()              forget everything shown: a reload follows
 *   onError(err)           history could not be read
 * Returns {started, lastSeq(), hasOlder(), loadOlder(), close()}; started
 * resolves once the history is shown and the subscription is made.
 */
export function openFeed(sb, channel, handlers, { historyLimit = 100 } = {}) {
  let last = 0;
  let oldest = null; // lowest seq shown, for paging back
  let sub = null;
  let closed = false;
  let olderExists = false; // history said there is more before the oldest shown
  const signalIds = new Set();

  function deliver(ev, replay) {
    if (ev.seq === null || ev.seq === undefined) {
      if (ev.id) {
        if (signalIds.has(ev.id)) return;
        signalIds.add(ev.id);
        if (signalIds.size > SIGNAL_IDS_KEPT) signalIds.delete(signalIds.values().next().value);
      }
      handlers.onSignal?.(ev);
      return;
    }
    if (ev.seq <= last) return;
    last = ev.seq;
    if (oldest === null) oldest = ev.seq;
    handlers.onEvent(ev, { replay });
  }

  async function loadNewest() {
    const page = await sb.history(channel, { limit: historyLimit });
    const events = page.events || [];
    if (events.length) oldest = events[0].seq;
    olderExists = Boolean(page.more);
    for (const ev of events) deliver(ev, true);
    return page;
  }

  async function reload() {
    last = 0;
    oldest = null;
    handlers.onClear?.();
    try {
      await loadNewest();
    } catch (err) {
      handlers.onError?.(err);
    }
  }

  async function start() {
    try {
      await loadNewest();
    } catch (err) {
      handlers.onError?.(err);
    }
    if (closed) return;
    sub = sb.subscribe(channel, {
      since: last,
      onEvent: (ev) => deliver(ev, false),
      onSignal: (sig) => deliver(sig, false),
      onReset: () => reload(),
    });
  }

  const started = start();
  return {
    started,
    lastSeq: () => last,
    hasOlder: () => olderExists,
    /** Older events than the oldest shown: {events, more}, oldest first. */
    async loadOlder(limit = historyLimit) {
      if (oldest === null || oldest <= 1) return { events: [], more: false };
      const page = await sb.history(channel, { before: oldest, limit });
      const events = page.events || [];
      if (events.length) oldest = events[0].seq;
      olderExists = Boolean(page.more);
      return { events, more: olderExists };
    },
    close() {
      closed = true;
      sub?.unsubscribe();
    },
  };
}
