// connection.js: the connection status in the header: state (with the
// reconnect attempt), transport, latency from ping/pong, and a retry
// button that reconnects at once (sb.reconnectNow()).

const STATE_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting',
  disconnected: 'Disconnected',
};
const TRANSPORT_TEXT = { websocket: 'WebSocket', longpoll: 'long-polling', sse: 'Server-Sent Events' };

/**
 * Show sb's state in root (the element holding .conn-state, .conn-transport,
 * .conn-latency and button.conn-retry). Returns nothing; listens for as long
 * as the page lives.
 */
export function mountConnection(sb, root) {
  const stateEl = root.querySelector('.conn-state');
  const transportEl = root.querySelector('.conn-transport');
  const latencyEl = root.querySelector('.conn-latency');
  const retry = root.querySelector('.conn-retry');

  function render({ state, attempt, transport, error } = {}) {
    state = state || sb.state || 'connecting';
    root.dataset.state = state;
    let text = STATE_TEXT[state] || state;
    if (state === 'reconnecting' && attempt) text += ` (attempt ${attempt})`;
    else if (state === 'reconnecting') text += '…';
    stateEl.textContent = text;
    stateEl.title = error ? `last error: ${error.message || error}` : '';
    const t = transport || sb.transport;
    transportEl.textContent = state === 'connected' && t ? `via ${TRANSPORT_TEXT[t] || t}` : '';
    root.dataset.transport = state === 'connected' && t ? t : '';
    if (state !== 'connected') latencyEl.textContent = '';
    retry.disabled = state === 'connected';
  }

  sb.on('state', render);
  sb.on('latency', (ms) => {
    if (sb.state !== 'connected' || typeof ms !== 'number') return;
    latencyEl.textContent = `${Math.round(ms)} ms`;
    latencyEl.dataset.ms = String(Math.round(ms));
  });
  retry.addEventListener('click', () => sb.reconnectNow());
  render();
}
