// The admin console and supervisor panel: plain DOM, no build step, served by the hub.
// It only uses the public HTTP API with the logged-in user's bearer token, so it sees and
// may do exactly what that user's role allows. Data is written with textContent, never
// as HTML.

const POLL_MS = 2000;
const FEED_MAX = 50;
const TOKEN_KEY = 'facility-hub.token';

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem(TOKEN_KEY), user: null, selected: null, lastSeq: null, timer: null, warnTarget: null, feed: [] };

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, url, body) {
  const headers = { accept: 'application/json' };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (res.status === 401 && url !== '/api/auth/login') {
    // The token expired or was revoked: back to the login form.
    showLogin('Your session ended; please log in again.');
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  return td;
}

function rows(tbody, items, render) {
  tbody.replaceChildren(...items.map(render));
}

const hhmm = (iso) => (iso ? iso.slice(11, 19) : '');

function showLogin(message) {
  stopPolling();
  state.token = null;
  state.user = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('main-view').hidden = true;
  $('who').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
}

async function showMain() {
  state.user = await api('GET', '/api/auth/me');
  $('user').textContent = `${state.user.displayName || state.user.username} (${state.user.role})`;
  $('login-view').hidden = true;
  $('who').hidden = false;
  $('main-view').hidden = false;
  state.lastSeq = null;
  state.feed = [];
  await poll();
}

function stopPolling() {
  if (state.timer) clearTimeout(state.timer);
  state.timer = null;
}

// One refresh at a time: a click during a refresh asks for one more right after it, so
// two refreshes never read the event log from the same point (the feed would show lines twice).
let refreshing = null;
let refreshAgain = false;

function poll() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  stopPolling();
  refreshing = refreshAll().finally(() => {
    refreshing = null;
    if (!state.token) return; // logged out meanwhile
    if (refreshAgain) {
      refreshAgain = false;
      void poll();
    } else state.timer = setTimeout(() => void poll(), POLL_MS);
  });
  return refreshing;
}

async function refreshAll() {
  const problems = [];
  const step = async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      problems.push(`${name}: ${err.message}`);
    }
  };
  try {
    await step('alarms', refreshAlarms);
    await step('sessions', refreshSessions);
    await step('check-ins', refreshCheckins);
    await step('gate decisions', refreshFeed);
    await step('devices', refreshDevices);
    await step('power', refreshPower);
  } catch {
    return; // logged out
  }
  $('poll-error').textContent = problems.join(' · ');
}

async function refreshAlarms() {
  const alarms = await api('GET', '/api/alarms');
  const canAck = state.user && ['admin', 'supervisor', 'operator'].includes(state.user.role);
  if (alarms.length === 0) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'No active alarm';
    $('alarms').replaceChildren(li);
    return;
  }
  $('alarms').replaceChildren(
    ...alarms.map((a) => {
      const li = document.createElement('li');
      li.className = a.severity;
      li.dataset.id = a.id;
      const ack = a.acknowledged ? ` · acknowledged by ${a.acknowledged.displayName || a.acknowledged.by}` : '';
      li.textContent = `${a.severity} · ${hhmm(a.raisedAt)} · ${a.deviceId ?? a.source}: ${a.message}${ack}`;
      if (canAck && !a.acknowledged) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = 'Acknowledge';
        b.addEventListener('click', () => {
          api('POST', `/api/alarms/${encodeURIComponent(a.id)}/ack`)
            .then(() => poll())
            .catch((err) => {
              $('poll-error').textContent = `acknowledge: ${err.message}`;
            });
        });
        li.append(b);
      }
      return li;
    }),
  );
}

async function refreshSessions() {
  const sessions = await api('GET', '/api/sessions');
  if (state.selected && !sessions.some((s) => s.id === state.selected.id)) state.selected = null;
  rows($('sessions').tBodies[0], sessions, (s) => {
    const tr = document.createElement('tr');
    tr.dataset.id = s.id;
    if (state.selected && state.selected.id === s.id) {
      tr.className = 'selected';
      state.selected = s;
    }
    tr.append(cell(s.code), cell(s.name), cell(s.status), cell(hhmm(s.checkInOpens)), cell(hhmm(s.start)), cell(hhmm(s.end)), cell(s.rosterSize), cell(s.inside));
    tr.addEventListener('click', () => {
      state.selected = s;
      closeWarn();
      void poll();
    });
    return tr;
  });
}

async function refreshCheckins() {
  const s = state.selected;
  $('session-detail').hidden = !s;
  if (!s) return;
  $('session-title').textContent = `${s.code} ${s.name} (${s.status})`;
  const list = await api('GET', `/api/sessions/${encodeURIComponent(s.id)}/checkins`);
  const canWarn = state.user && (state.user.role === 'admin' || state.user.role === 'supervisor');
  rows($('checkins').tBodies[0], list, (c) => {
    const tr = document.createElement('tr');
    tr.append(
      cell(c.name),
      cell(c.idMasked),
      cell(c.room),
      cell(c.seat),
      cell(c.offline ? `${c.status} (offline)` : c.status, `status-${c.status}`),
      cell(c.gateId),
      cell(hhmm(c.grantedAt)),
      cell(hhmm(c.passedAt)),
      cell(hhmm(c.leftAt)),
    );
    const action = document.createElement('td');
    if (canWarn && c.status === 'inside' && c.room) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Warn';
      b.addEventListener('click', () => openWarn({ sessionId: s.id, room: c.room, seat: c.seat ?? undefined, label: `${c.room} seat ${c.seat}` }));
      action.append(b);
    }
    tr.append(action);
    return tr;
  });
}

function describe(e) {
  const d = e.data || {};
  const who = d.idMasked && d.idMasked !== 'invalid' ? ` ${d.idMasked}` : '';
  switch (e.type) {
    case 'checkin.granted':
      return { deny: false, text: `${hhmm(e.time)} ${e.deviceId}: granted${who} → ${d.room} seat ${d.seat}` };
    case 'checkin.denied':
      return { deny: true, text: `${hhmm(e.time)} ${e.deviceId}: denied${who} (${d.reason})` };
    case 'checkin.passed':
      return { deny: false, text: `${hhmm(e.time)} ${e.deviceId}: passed → ${d.room} seat ${d.seat}` };
    case 'checkin.left':
      return { deny: false, text: `${hhmm(e.time)} ${e.deviceId}: left ${d.room} seat ${d.seat}` };
    case 'checkin.expired':
      return { deny: false, text: `${hhmm(e.time)} ${e.deviceId}: grant expired (not passed in time)` };
    case 'checkin.offline-reconciled':
      return { deny: false, text: `${hhmm(e.time)} ${e.deviceId}: offline pass reconciled${who}` };
    case 'checkin.offline-unmatched':
      return { deny: true, text: `${hhmm(e.time)} ${e.deviceId}: offline pass of someone not on the allow-list` };
    default:
      return null;
  }
}

async function refreshFeed() {
  // The first call starts at the end of the log; later calls fetch only what is new.
  const q = state.lastSeq === null ? 'latest=true&limit=200' : `afterSeq=${state.lastSeq}&limit=500`;
  const events = await api('GET', `/api/events?${q}`);
  if (events.length) state.lastSeq = events[events.length - 1].seq;
  else if (state.lastSeq === null) state.lastSeq = 0;
  for (const e of events) {
    const line = describe(e);
    if (line) state.feed.unshift(line);
  }
  state.feed.length = Math.min(state.feed.length, FEED_MAX);
  $('feed').replaceChildren(
    ...state.feed.map((l) => {
      const li = document.createElement('li');
      li.textContent = l.text;
      if (l.deny) li.className = 'deny';
      return li;
    }),
  );
}

async function refreshDevices() {
  const devices = await api('GET', '/api/devices');
  rows($('devices').tBodies[0], devices, (d) => {
    const tr = document.createElement('tr');
    tr.append(cell(d.id), cell(d.kind), cell(d.available ? 'yes' : `no: ${d.reason}`, d.available ? '' : 'unavailable'), cell(d.lastSeen ? hhmm(d.lastSeen) : 'never'));
    return tr;
  });
}

async function refreshPower() {
  const banner = $('power');
  let p;
  try {
    p = await api('GET', '/api/power');
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      banner.hidden = true; // this hub has no UPS configured
      return;
    }
    throw err;
  }
  banner.hidden = false;
  const charge = p.battery && p.battery.charge !== null ? ` · battery ${p.battery.charge}%` : '';
  const runtime = p.runtime !== null && p.runtime !== undefined ? ` · runtime ${Math.round(p.runtime / 60)} min` : '';
  const stage = p.stage ? ` · ${p.stage}` : '';
  banner.textContent = `Power: ${p.state}${charge}${runtime}${stage}`;
  banner.className = p.state === 'mains-ok' || p.state === 'unknown' ? 'banner' : 'banner alert';
}

function openWarn(target) {
  state.warnTarget = target;
  $('warn-target').textContent = target.label;
  $('warn-result').textContent = '';
  $('warn').hidden = false;
}

function closeWarn() {
  state.warnTarget = null;
  $('warn').hidden = true;
}

async function sendWarning(form) {
  const t = state.warnTarget;
  if (!t) return;
  const data = new FormData(form);
  const body = { sessionId: t.sessionId, room: t.room, text: String(data.get('text')), reason: String(data.get('reason')) };
  if (t.seat !== undefined) body.seat = t.seat;
  try {
    const out = await api('POST', '/api/broadcast/warnings', body);
    $('warn-result').textContent = out.confirmed ? `Played (${out.id}), confirmed by the controller.` : `Sent (${out.id}), not confirmed by the controller.`;
  } catch (err) {
    $('warn-result').textContent = `Not played: ${err.message}`;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    $('login-error').textContent = '';
    api('POST', '/api/auth/login', { username: String(data.get('username')), password: String(data.get('password')) })
      .then((out) => {
        state.token = out.token;
        sessionStorage.setItem(TOKEN_KEY, out.token);
        ev.target.reset();
        return showMain();
      })
      .catch((err) => {
        $('login-error').textContent = err.message;
      });
  });
  $('logout').addEventListener('click', () => {
    api('POST', '/api/auth/logout')
      .catch(() => undefined)
      .finally(() => showLogin());
  });
  $('warn').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void sendWarning(ev.target);
  });
  $('warn-cancel').addEventListener('click', closeWarn);
  if (state.token) showMain().catch(() => showLogin());
  else showLogin();
});
