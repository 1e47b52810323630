// auth.js: where the dashboard's token comes from, and the sign-in form.
//
// A token arrives in the URL fragment (#token=eyJ...; a fragment never
// reaches a server or its access log), is kept in sessionStorage for this
// tab only, and is removed from the address bar at once. Without one, the
// sign-in form asks for a token to paste. When the server refuses the token
// (expired, forged, malformed), the form comes back with a visible alert.
// The token is never verified here: only the server holds the secret.

const STORAGE_KEY = 'switchboard.token';
const TOKEN_MAX = 16384; // SB_TOKEN_MAX, PROTOCOL.md §3.1

/** The token from #token=..., else from sessionStorage; null when none. */
export function takeToken() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = params.get('token');
  if (fromHash) {
    params.delete('token');
    const rest = params.toString();
    const url = location.pathname + location.search + (rest ? `#${rest}` : '');
    history.replaceState(history.state, '', url);
    storeToken(fromHash.trim());
  }
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return fromHash ? fromHash.trim() : null;
  }
}

export function storeToken(token) {
  try {
    sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    /* storage disabled: the token lives for this page only */
  }
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* nothing stored */
  }
}

function base64UrlJson(part) {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * The claims of a JWT without checking its signature (for display only:
 * who am I, when does it expire), or null when it is not shaped like one.
 */
export function tokenClaims(token) {
  if (typeof token !== 'string' || token.length > TOKEN_MAX) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return null;
  try {
    const claims = base64UrlJson(parts[1]);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

/** What this token publishes as: "<role>:<sub>", or null. */
export function senderOf(token) {
  const c = tokenClaims(token);
  return c && typeof c.role === 'string' && typeof c.sub === 'string' ? `${c.role}:${c.sub}` : null;
}

/** A sentence for an authentication error from the server. */
export function refusalText(err) {
  const detail = err?.message ? ` (${err.message})` : '';
  if (err?.code === 'token_expired') {
    return 'Your access token has expired. Paste a new token to continue.';
  }
  if (err?.code === 'forbidden') {
    return `Your access token does not allow this${detail}.`;
  }
  return `The server refused your access token${detail}. It may be forged, mistyped or for another server. Paste a valid token.`;
}

/**
 * Wire the sign-in form: on submit, a token that is shaped like a JWT is
 * stored and onToken(token) is called; anything else is refused in the
 * alert without contacting the server.
 */
export function mountSignIn({ section, form, input, alertBox }, onToken) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!tokenClaims(token)) {
      showAlert(alertBox, 'That is not an access token: a token has three dot-separated parts (eyJ….eyJ….…).');
      input.focus();
      return;
    }
    storeToken(token);
    input.value = '';
    onToken(token);
  });
  return {
    /** Show the form, with an alert when message is given. */
    ask(message) {
      section.hidden = false;
      if (message) showAlert(alertBox, message);
      input.focus();
    },
    hide() {
      section.hidden = true;
    },
  };
}

/** Put a message into a role="alert" box (announced at once) and show it. */
export function showAlert(box, message) {
  box.querySelector('.alert-text').textContent = message;
  box.hidden = false;
}

export function clearAlert(box) {
  box.querySelector('.alert-text').textContent = '';
  box.hidden = true;
}
