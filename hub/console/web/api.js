// The API client and the live feed. Only the public HTTP API, with the logged-in user's
// bearer token (kept in this tab's sessionStorage), so the page can see and do exactly
// what the role allows; the server enforces it regardless.

const TOKEN_KEY = 'facility-hub.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const auth = {
  token: sessionStorage.getItem(TOKEN_KEY),
  onExpired: () => undefined,
  set(token) {
    this.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export async function api(method, url, body, contentType) {
  const headers = { accept: 'application/json' };
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = contentType || 'application/json';
    payload = contentType ? body : JSON.stringify(body);
  }
  const res = await fetch(url, { method, headers, body: payload });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (res.status === 401 && url !== '/api/auth/login') {
    auth.set(null);
    auth.onExpired();
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/**
 * Reads an endpoint that another part of the product may not provide yet (jammers, robot,
 * users, audit): null when it answers 404, so the view says "not available" instead of failing.
 */
export async function optional(url, known) {
  if (known && known[url] === false) return null; // the hub says it has no such route: do not ask
  const res = await fetch(url, { headers: { accept: 'application/json', authorization: `Bearer ${auth.token}` } });
  if (res.status === 404) return null;
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return res.json();
}

/**
 * The live feed: Server-Sent Events from /api/live. EventSource cannot send the bearer
 * token, so each connection first gets a single-use ticket with it. When the stream breaks,
 * the page gets a new ticket and reconnects with `after` = the last seq it saw, so nothing
 * is missed and nothing is shown twice.
 */
export function connectLive({ onEvent, onState, onReset }) {
  let source = null;
  let lastSeq = null;
  let stopped = false;
  let retry = null;
  let delay = 1000;

  async function open() {
    if (stopped) return;
    try {
      const { ticket } = await api('POST', '/api/live/ticket');
      if (stopped) return; // logged out while the ticket was on its way: open nothing
      const q = new URLSearchParams({ ticket });
      if (lastSeq !== null) q.set('after', String(lastSeq));
      source = new EventSource(`/api/live?${q}`);
      source.addEventListener('hello', (m) => {
        const hello = JSON.parse(m.data);
        if (lastSeq === null) lastSeq = hello.head;
        delay = 1000;
        onState(true);
      });
      source.addEventListener('event', (m) => {
        const e = JSON.parse(m.data);
        if (lastSeq !== null && e.seq <= lastSeq) return;
        lastSeq = e.seq;
        onEvent(e);
      });
      source.addEventListener('reset', () => onReset());
      source.onerror = () => {
        // The ticket was single use: a reconnect needs a new one, so close and reopen.
        source.close();
        source = null;
        onState(false);
        schedule();
      };
    } catch {
      onState(false);
      schedule();
    }
  }
  function schedule() {
    if (stopped || !auth.token) return;
    clearTimeout(retry);
    retry = setTimeout(open, delay);
    delay = Math.min(delay * 2, 15000);
  }
  void open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    if (source) source.close();
  };
}
