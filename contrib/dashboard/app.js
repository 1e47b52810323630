// app.js: the dashboard's entry point. It reads the page's options, finds
// the token, connects one Switchboard client and hands it to each panel.
//
// URL options (query string):
//   channel=chat:xyz       the conversation (default chat:demo)
//   activity=activity:x    the activity feed (default activity:main)
//   workflow=workflow:x    the workflow card (default workflow:demo)
// The token: #token=... in the fragment, else this tab's sessionStorage,
// else the sign-in form.

import { Switchboard } from './js/switchboard.js';
import { mountTheme } from './theme.js';
import { takeToken, senderOf, tokenClaims, mountSignIn, showAlert, clearAlert, forgetToken, refusalText } from './auth.js';
import { mountConnection } from './connection.js';
import { mountChat } from './chat.js';
import { mountActivity } from './activity.js';
import { mountWorkflow } from './workflow.js';
import { mountMetrics } from './metrics.js';
import { mountPresence } from './presence.js';
import { startRelativeClock, isValidChannel, errorText } from './util.js';

const DEFAULTS = { channel: 'chat:demo', activity: 'activity:main', workflow: 'workflow:demo' };
const AUTH_REFUSED = new Set(['unauthorized', 'token_expired']);

const $ = (selector) => document.querySelector(selector);
const alertBox = $('#alert');

/** The channels named in the query string, each checked against the grammar. */
function channelsFromUrl() {
  const params = new URLSearchParams(location.search);
  const out = {};
  const bad = [];
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const value = params.get(key);
    if (value === null || value === '') out[key] = fallback;
    else if (isValidChannel(value)) out[key] = value;
    else {
      bad.push(`${key}=${value}`);
      out[key] = fallback;
    }
  }
  if (bad.length) showAlert(alertBox, `Not a valid channel name: ${bad.join(', ')}. Showing ${bad.map((b) => DEFAULTS[b.split('=')[0]]).join(', ')} instead.`);
  return out;
}

function showIdentity(token) {
  const who = senderOf(token);
  const claims = tokenClaims(token);
  $('#whoami-name').textContent = who || 'unknown';
  if (claims && Number.isInteger(claims.exp)) {
    $('#whoami').title = `token valid until ${new Date(claims.exp * 1000).toLocaleString()}`;
  }
  $('#whoami').hidden = false;
}

function start(token, channels) {
  let current = token;
  const sb = new Switchboard({ token: async () => current });
  const signIn = mountSignIn({
    section: $('#signin'), form: $('#signin-form'), input: $('#signin-token'), alertBox,
  }, () => location.reload());

  mountConnection(sb, $('#connection'));
  showIdentity(token);
  const notice = $('#notice');
  sb.on('error', (err) => {
    if (AUTH_REFUSED.has(err?.code)) {
      sb.close();
      current = null;
      forgetToken();
      document.body.dataset.auth = 'refused';
      signIn.ask(refusalText(err));
      return;
    }
    notice.textContent = errorText(err);
    notice.hidden = false;
  });
  sb.on('state', ({ state }) => {
    if (state === 'connected') {
      notice.hidden = true;
      if (document.body.dataset.auth !== 'refused') clearAlert(alertBox);
      document.body.dataset.auth = 'ok';
    }
  });

  sb.connect().then(() => {
    const me = senderOf(token);
    const presence = mountPresence(sb, $('#presence'), channels.channel, { me });
    mountChat(sb, $('#chat'), channels.channel, { me, onPresence: presence.onSignal });
    mountActivity(sb, $('#activity'), channels.activity);
    mountWorkflow(sb, $('#workflow'), channels.workflow);
    mountMetrics(sb, $('#metrics'));
  }, () => { /* reported through the 'error' listener */ });
  return sb;
}

function main() {
  mountTheme($('#theme'));
  startRelativeClock();
  const channels = channelsFromUrl();
  for (const [key, value] of Object.entries(channels)) {
    for (const node of document.querySelectorAll(`[data-channel-of="${key}"]`)) node.textContent = value;
  }
  $('#signout').addEventListener('click', () => {
    forgetToken();
    location.reload();
  });
  const token = takeToken();
  if (!token) {
    document.body.dataset.auth = 'none';
    mountSignIn({ section: $('#signin'), form: $('#signin-form'), input: $('#signin-token'), alertBox },
      () => location.reload()).ask(null);
    return;
  }
  window.switchboardDashboard = start(token, channels);
}

main();
