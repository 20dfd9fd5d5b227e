// The admin console and supervisor panel: Preact + htm (ES modules served from the installed
// packages, no build step), uPlot for charts. One state object; every change re-renders the
// app and Preact patches the DOM. Text is always rendered as text (htm never parses data as
// HTML). Live: Server-Sent Events (api.js) trigger re-reads of what an event changed.
import { h, render } from '/console/vendor/preact.js';
import htm from '/console/vendor/htm.js';
import { api, auth, optional, connectLive, ApiError } from '/console/api.js';
import { t, code, dateTime, timeOnly, getLang, setLang } from '/console/i18n.js';
import { lineChart } from '/console/chart.js';

const html = htm.bind(h);
const FEED_MAX = 50;
const SESSION_COLOURS = ['#2f6fde', '#d9822b', '#2e9d5b', '#9b51e0', '#c0392b', '#16a2b8'];
const ROLES = ['admin', 'supervisor', 'operator', 'platform', 'viewer'];
const VIEWS = ['floor', 'sessions', 'supervise', 'power', 'alarms', 'timeline', 'health', 'devices', 'jammers', 'users'];

const S = {
  user: null,
  view: 'floor',
  live: false,
  facility: null,
  sessions: [],
  checkins: {}, // sessionId → list
  selected: null, // session id
  seat: null, // { room, seat }
  alarms: [],
  devices: [],
  power: undefined,
  broadcast: null,
  feed: [],
  timeline: [],
  audit: undefined,
  health: null,
  powerHistory: null,
  optional: {},
  warnTarget: null,
  messages: {}, // per form: text shown after an action
  rosterErrors: [],
  error: '',
  fire: null,
};

let scheduled = false;
function update() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    render(html`<${App} />`, document.getElementById('app'));
  });
}
const say = (key, text) => {
  S.messages[key] = text;
  update();
};

const role = () => (S.user ? S.user.role : null);
const can = {
  warn: () => role() === 'admin' || role() === 'supervisor',
  ack: () => role() !== null && role() !== 'viewer',
  manageSessions: () => role() === 'admin' || role() === 'operator',
  closeSession: () => role() === 'admin',
  broadcast: () => role() === 'admin' || role() === 'supervisor' || role() === 'operator',
  admin: () => role() === 'admin',
};

const roomName = (id) => (S.facility && S.facility.rooms.find((r) => r.id === id)?.name) || id || '';
const deviceName = (id) => (S.facility && S.facility.devices.find((d) => d.id === id)?.name) || id || '';
const maskName = (name) => (name ? `${[...name][0]}${'*'.repeat(Math.max(1, [...name].length - 1))}` : '');
const activeSessions = () => S.sessions.filter((s) => s.status === 'check-in' || s.status === 'in-progress');
const colourOf = (sessionId) => SESSION_COLOURS[Math.max(0, S.sessions.findIndex((s) => s.id === sessionId)) % SESSION_COLOURS.length];

// --- loading ------------------------------------------------------------------------------

async function guard(what, fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    S.error = `${what}: ${err.message}`;
    update();
  }
}

const load = {
  facility: () => guard('facility', async () => (S.facility = await api('GET', '/api/console/facility'))),
  sessions: () =>
    guard('sessions', async () => {
      S.sessions = await api('GET', '/api/sessions');
      const wanted = new Set(activeSessions().map((s) => s.id));
      if (S.selected) wanted.add(S.selected);
      await Promise.all([...wanted].map((id) => load.checkins(id)));
    }),
  checkins: (id) => guard('check-ins', async () => (S.checkins[id] = await api('GET', `/api/sessions/${encodeURIComponent(id)}/checkins`))),
  alarms: () => guard('alarms', async () => (S.alarms = await api('GET', '/api/alarms'))),
  devices: () => guard('devices', async () => (S.devices = await api('GET', '/api/devices'))),
  power: () =>
    guard('power', async () => {
      try {
        S.power = await api('GET', '/api/power');
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) S.power = null;
        else throw err;
      }
    }),
  broadcast: () => (can.broadcast() ? guard('broadcast', async () => (S.broadcast = await api('GET', '/api/broadcast?limit=50'))) : Promise.resolve()),
  health: () => guard('health', async () => (S.health = await api('GET', '/api/health/index'))),
  powerHistory: () => guard('power history', async () => (S.powerHistory = await api('GET', '/api/health/index?hours=6&step=60'))),
  timeline: (id) =>
    guard('timeline', async () => {
      S.timeline = id ? await api('GET', `/api/events?sessionId=${encodeURIComponent(id)}&limit=5000`) : [];
      S.audit = id ? await optional('/api/audit/verify', S.facility && S.facility.apis) : undefined;
    }),
  optional: (key, url) => guard(key, async () => (S.optional[key] = await optional(url, S.facility && S.facility.apis))),
};

// An event changes a few resources: re-read those (at most once per 300 ms each), never the page.
const pending = new Map();
function refreshSoon(name, fn) {
  if (pending.has(name)) return;
  pending.set(
    name,
    setTimeout(() => {
      pending.delete(name);
      void fn().then(update);
    }, 300),
  );
}

function onEvent(e) {
  const line = describe(e);
  if (line) {
    S.feed.unshift(line);
    S.feed.length = Math.min(S.feed.length, FEED_MAX);
  }
  if (e.type.startsWith('checkin.') || e.type.startsWith('session.') || e.type.startsWith('roster.')) refreshSoon('sessions', load.sessions);
  if (e.type.startsWith('alarm.')) refreshSoon('alarms', load.alarms);
  if (e.type.startsWith('power.') || e.type.startsWith('relay.') || e.type.startsWith('ups')) refreshSoon('power', load.power);
  if (e.type.startsWith('device.')) refreshSoon('devices', load.devices);
  if (e.type.startsWith('broadcast.')) refreshSoon('broadcast', load.broadcast);
  if ((e.type.startsWith('jammer.') || isFire(e)) && S.view === 'jammers') refreshSoon('jammers', () => load.optional('jammers', '/api/jammers'));
  if (e.type.startsWith('user.') && S.view === 'users' && can.admin()) refreshSoon('users', () => load.optional('users', '/api/users'));
  if (isFire(e)) S.fire = e.data.type === 'clear' ? null : { deviceId: e.deviceId, time: e.time };
  if (S.view === 'timeline' && S.selected && e.sessionIds.includes(S.selected)) S.timeline.push(e);
  update();
}

function isFire(e) {
  const kind = S.facility && S.facility.devices.find((d) => d.id === e.deviceId)?.kind;
  return kind === 'fire-panel' && e.data && (e.data.type === 'alarm' || e.data.type === 'clear');
}

function describe(e) {
  const d = e.data || {};
  const p = { time: timeOnly(e.time), gate: deviceName(e.deviceId), who: d.idMasked && d.idMasked !== 'invalid' ? d.idMasked : '', room: roomName(d.room), seat: d.seat };
  switch (e.type) {
    case 'checkin.granted':
      return { seq: e.seq, text: t('feed.granted', p) };
    case 'checkin.denied':
      return { seq: e.seq, deny: true, text: t('feed.denied', { ...p, reason: code('reason', d.reason) }) };
    case 'checkin.passed':
      return { seq: e.seq, text: t('feed.passed', p) };
    case 'checkin.left':
      return { seq: e.seq, text: t('feed.left', p) };
    case 'checkin.expired':
      return { seq: e.seq, text: t('feed.expired', p) };
    case 'checkin.offline-reconciled':
      return { seq: e.seq, text: t('feed.reconciled', p) };
    case 'checkin.offline-unmatched':
      return { seq: e.seq, deny: true, text: t('feed.unmatched', p) };
    default:
      return null;
  }
}

let stopLive = null;
async function enter() {
  S.user = await api('GET', '/api/auth/me');
  await load.facility();
  await Promise.all([load.sessions(), load.alarms(), load.devices(), load.power(), load.broadcast()]);
  const recent = await api('GET', '/api/events?latest=true&limit=200').catch(() => []);
  S.feed = recent.map(describe).filter(Boolean).reverse().slice(0, FEED_MAX);
  if (stopLive) stopLive();
  stopLive = connectLive({
    onEvent,
    onState: (up) => {
      S.live = up;
      update();
    },
    onReset: () => void Promise.all([load.sessions(), load.alarms(), load.devices(), load.power()]).then(update),
  });
  void enterView();
  update();
}

function leave(message) {
  if (stopLive) stopLive();
  stopLive = null;
  auth.set(null);
  Object.assign(S, { user: null, live: false, feed: [], checkins: {}, selected: null, seat: null, warnTarget: null, messages: { login: message || '' } });
  update();
}
auth.onExpired = () => leave(t('login.ended'));

function route() {
  const v = location.hash.replace(/^#\/?/, '');
  S.view = VIEWS.includes(v) ? v : 'floor';
  S.error = '';
  if (S.user) void enterView();
  update();
}

async function enterView() {
  if (S.view === 'power') await Promise.all([load.power(), load.powerHistory()]);
  if (S.view === 'health') await load.health();
  if (S.view === 'timeline') await load.timeline(S.selected);
  if (S.view === 'supervise') await load.broadcast();
  if (S.view === 'jammers') await Promise.all([load.optional('jammers', '/api/jammers'), load.optional('robot', '/api/robot/tasks'), load.devices()]);
  if (S.view === 'users' && can.admin()) await load.optional('users', '/api/users');
  if (S.view === 'alarms' && can.manageSessions()) await load.optional('demo', '/api/demo');
  update();
}

// --- actions ------------------------------------------------------------------------------

function formData(ev) {
  ev.preventDefault();
  return Object.fromEntries(new FormData(ev.currentTarget).entries());
}

function login(ev) {
  const f = formData(ev);
  const form = ev.currentTarget;
  S.messages.login = '';
  api('POST', '/api/auth/login', { username: f.username, password: f.password })
    .then((out) => {
      auth.set(out.token);
      form.reset();
      return enter();
    })
    .catch((err) => say('login', err.status === 401 ? `用户名或密码错误 / ${err.message}` : t('err.network', { message: err.message })));
}

function logout() {
  api('POST', '/api/auth/logout')
    .catch(() => undefined)
    .finally(() => leave());
}

function createSession(ev) {
  const f = formData(ev);
  const form = ev.currentTarget;
  const offset = S.facility.site.utcOffset;
  const rooms = [...form.querySelectorAll('input[name=room]:checked')].map((i) => i.value);
  const body = { code: f.code, name: f.name, start: `${f.start}:00${offset}`, end: `${f.end}:00${offset}`, ...(rooms.length ? { rooms } : {}) };
  api('POST', '/api/sessions', body)
    .then((s) => {
      form.reset();
      S.selected = s.id;
      say('create', t('session.created', { code: s.code }));
      return load.sessions();
    })
    .then(update)
    .catch((err) => say('create', err.message));
}

async function uploadRoster(ev) {
  ev.preventDefault();
  const file = ev.currentTarget.querySelector('input[type=file]').files[0];
  S.rosterErrors = [];
  if (!file || !S.selected) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  // Excel on Chinese Windows saves GB18030: decode as UTF-8 first, and fall back when it is not.
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder('gb18030').decode(bytes);
  }
  try {
    const out = await api('POST', `/api/sessions/${encodeURIComponent(S.selected)}/roster`, text, 'text/csv');
    say('roster', t('roster.ok', { n: out.accepted }));
    await load.sessions();
  } catch (err) {
    const rows = err.body && err.body.details && err.body.details.rows;
    S.rosterErrors = Array.isArray(rows) ? rows : [];
    say('roster', rows ? t('roster.errors', { n: rows.length }) : err.message);
  }
  update();
}

function sessionAction(kind) {
  const id = S.selected;
  if (!id) return;
  if (kind === 'close' && !confirm(t('session.confirmClose'))) return;
  api('POST', `/api/sessions/${encodeURIComponent(id)}/${kind}`)
    .then(() => say('session', kind === 'close' ? t('session.closed') : t('status.cancelled')))
    .then(load.sessions)
    .then(update)
    .catch((err) => say('session', err.status === 404 && kind === 'cancel' ? t('na') : err.message));
}

/** The demo's fire drill: sets off or clears the simulated fire panel (only beside the hub's own simulators). */
function demoFire(action) {
  api('POST', '/api/demo/fire', { action })
    .then(() => say('alarms', action === 'alarm' ? t('demo.fire.sent') : t('demo.fire.cleared')))
    .then(load.alarms)
    .then(update)
    .catch((err) => say('alarms', err.message));
}

function ackAlarm(id) {
  api('POST', `/api/alarms/${encodeURIComponent(id)}/ack`)
    .then(load.alarms)
    .then(update)
    .catch((err) => say('alarms', err.message));
}

function openWarn(target) {
  S.warnTarget = target;
  S.messages.warn = '';
  location.hash = '#/supervise';
  update();
}

function sendWarning(ev) {
  const f = formData(ev);
  const body = { reason: f.reason };
  if (f.sessionId) body.sessionId = f.sessionId;
  if (f.room) body.room = f.room;
  if (f.seat) body.seat = Number(f.seat);
  if (f.messageId) body.messageId = Number(f.messageId);
  else if (f.text) body.text = f.text;
  else return say('warn', t('warn.needText'));
  say('warn', '…');
  api('POST', '/api/broadcast/warnings', body)
    .then((out) => say('warn', out.confirmed ? t('warn.played', { id: out.id }) : t('warn.unconfirmed', { id: out.id })))
    .then(load.broadcast)
    .then(update)
    .catch((err) => say('warn', t('warn.failed', { message: err.message })));
}

function liveCall(ev, start) {
  const form = ev.currentTarget.form;
  const f = Object.fromEntries(new FormData(form).entries());
  if (start) {
    const body = { reason: f.reason };
    if (f.sessionId) body.sessionId = f.sessionId;
    if (f.room) body.room = f.room;
    if (f.seat) body.seat = Number(f.seat);
    api('POST', '/api/broadcast/calls', body)
      .then((out) => say('warn', out.confirmed ? `${t('call.active')} (${out.id})` : t('warn.unconfirmed', { id: out.id })))
      .then(load.broadcast)
      .then(update)
      .catch((err) => say('warn', t('warn.failed', { message: err.message })));
  } else {
    const call = S.broadcast && S.broadcast.calls[0];
    if (!call) return;
    api('POST', `/api/broadcast/calls/${encodeURIComponent(call.id)}/stop`)
      .then(() => say('warn', t('call.stop')))
      .then(load.broadcast)
      .then(update)
      .catch((err) => say('warn', err.message));
  }
}

/** A message under a form; `error` marks it as an error (red). */
function tell(key, text, error = false) {
  S.messages[`${key}Error`] = error;
  say(key, text);
}

/** The server's answer to a refused request, field included, after the Chinese prefix. */
const refused = (err) => t('err.refused', { message: err.message });

function overrideJammer(ev) {
  const f = formData(ev);
  const reason = (f.reason || '').trim();
  const minutes = Number(f.minutes);
  // The same rules as the server (docs/jammers.md): checked here first so the admin reads why at once.
  if (reason.length < 2) return tell('jam', t('jam.needReason'), true);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 10080) return tell('jam', t('jam.needExpiry'), true);
  tell('jam', '…');
  api('POST', `/api/jammers/${encodeURIComponent(f.zone)}/override`, { mode: f.mode, reason, minutes })
    .then((z) => tell('jam', t('jam.applied', { zone: roomName(z.room) || z.name, cause: code('jcause', z.cause) })))
    .then(() => load.optional('jammers', '/api/jammers'))
    .then(update)
    .catch((err) => tell('jam', refused(err), true));
}

function endOverride(form) {
  const f = Object.fromEntries(new FormData(form).entries());
  const reason = (f.reason || '').trim();
  if (reason.length < 2) return tell('jam', t('jam.needReason'), true);
  api('DELETE', `/api/jammers/${encodeURIComponent(f.zone)}/override`, { reason })
    .then((z) => tell('jam', t('jam.ended', { zone: roomName(z.room) || z.name, cause: code('jcause', z.cause) })))
    .then(() => load.optional('jammers', '/api/jammers'))
    .then(update)
    .catch((err) => tell('jam', refused(err), true));
}

const reloadUsers = () => load.optional('users', '/api/users').then(update);

function createUser(ev) {
  const f = formData(ev);
  const form = ev.currentTarget;
  const body = { username: f.username, role: f.role, password: f.password, ...(f.displayName.trim() ? { displayName: f.displayName.trim() } : {}) };
  api('POST', '/api/users', body)
    .then((u) => {
      form.reset();
      tell('users', t('users.created.ok', { user: u.username, role: code('role', u.role) }));
    })
    .catch((err) => tell('users', refused(err), true))
    .finally(reloadUsers);
}

function changeUser(username, changes) {
  api('PATCH', `/api/users/${encodeURIComponent(username)}`, changes)
    .then((u) =>
      tell('users', changes.role !== undefined ? t('users.roleChanged', { user: u.username, role: code('role', u.role) }) : t(u.disabled ? 'users.disabledOk' : 'users.enabledOk', { user: u.username })),
    )
    .catch((err) => tell('users', refused(err), true))
    .finally(reloadUsers); // a refused change shows the server's value again
}

function resetPassword(ev) {
  const f = formData(ev);
  const form = ev.currentTarget;
  api('PATCH', `/api/users/${encodeURIComponent(f.username)}`, { password: f.password })
    .then((u) => {
      form.reset();
      tell('users', t('users.resetOk', { user: u.username }));
    })
    .catch((err) => tell('users', refused(err), true));
}

// --- views --------------------------------------------------------------------------------

function Header() {
  return html`<header>
    <h1>${(S.facility && S.facility.site.name) || 'facility-hub'} <small>${t('app.title')}</small></h1>
    <div class="who">
      ${S.user && html`<span class=${S.live ? 'live on' : 'live off'} id="live">${S.live ? t('live.on') : t('live.off')}</span>`}
      <button type="button" id="lang" onClick=${() => { setLang(getLang() === 'en' ? 'zh' : 'en'); update(); }}>${t('app.lang')}</button>
      ${S.user && html`<span id="user">${S.user.displayName || S.user.username}（${code('role', S.user.role)}）</span>
        <button id="logout" type="button" onClick=${logout}>${t('logout')}</button>`}
    </div>
  </header>`;
}

function Nav() {
  const views = VIEWS.filter(allowed);
  return html`<nav>
    ${views.map((v) => html`<a href=${`#/${v}`} class=${S.view === v ? 'active' : ''} data-view=${v}>${t(`nav.${v}`)}${v === 'alarms' && S.alarms.length ? html` <b class="count">${S.alarms.length}</b>` : ''}</a>`)}
    <a href="/public" target="_blank" rel="noopener">${t('nav.public')}</a>
  </nav>`;
}

function Login() {
  return html`<section id="login-view">
    <h2>${t('login.title')}</h2>
    <form id="login" onSubmit=${login}>
      <label>${t('login.user')} <input name="username" autocomplete="username" required /></label>
      <label>${t('login.password')} <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit">${t('login.submit')}</button>
      <p class="error" id="login-error" role="alert">${S.messages.login || ''}</p>
    </form>
  </section>`;
}

function Banners() {
  const p = S.power;
  return html`
    ${S.fire && html`<p class="banner alert" id="fire">${t('alarm.fire', { device: deviceName(S.fire.deviceId) })} · ${dateTime(S.fire.time)}</p>`}
    ${p && p.state !== 'mains-ok' && p.state !== 'unknown' && html`<p class="banner alert" id="power-banner">${t('power.title')}：${code('pstate', p.state)}${p.stage ? ` · ${code('stage', p.stage)}` : ''}</p>`}
    ${S.error && html`<p class="error" id="poll-error" role="alert">${S.error}</p>`}`;
}

function FloorPlan() {
  const f = S.facility;
  if (!f) return null;
  const holders = new Map();
  for (const s of activeSessions()) for (const c of S.checkins[s.id] || []) if (c.room && c.seat && (c.status === 'inside' || c.status === 'granted')) holders.set(`${c.room}#${c.seat}`, { c, s });
  const sel = S.seat && holders.get(`${S.seat.room}#${S.seat.seat}`);
  return html`<section id="floor" data-testid="floor">
    <div class="legend">${activeSessions().map((s) => html`<span class="chip" style=${`background:${colourOf(s.id)}`}>${s.code} ${s.name}</span>`)}</div>
    <div class="rooms">
      ${f.rooms.map(
        (r) => html`<div class="room" data-room=${r.id}>
          <h3>${r.name}</h3>
          <div class="seats">
            ${Array.from({ length: r.seats }, (_x, i) => {
              const n = i + 1;
              const hold = holders.get(`${r.id}#${n}`);
              const style = hold ? `background:${colourOf(hold.s.id)}` : '';
              return html`<button type="button" class=${`seat ${hold ? `taken ${hold.c.status}` : 'free'}`} style=${style} data-seat=${n}
                onClick=${() => { S.seat = { room: r.id, seat: n }; update(); }}>
                <span class="n">${n}</span><span class="who">${hold ? maskName(hold.c.name) : t('seat.free')}</span>
              </button>`;
            })}
          </div>
        </div>`,
      )}
    </div>
    ${S.seat && html`<aside id="seat-detail" class="panel">
      <h3>${t('seat.title', { room: roomName(S.seat.room), seat: S.seat.seat })}</h3>
      ${sel
        ? html`<dl>
            <dt>${t('checkin.name')}</dt><dd id="seat-name">${sel.c.name}</dd>
            <dt>${t('checkin.id')}</dt><dd>${sel.c.idMasked}</dd>
            <dt>${t('checkin.status')}</dt><dd>${code('cstatus', sel.c.status)}</dd>
            <dt>${t('session.name')}</dt><dd>${sel.s.code} ${sel.s.name}</dd>
            <dt>${t('checkin.gate')}</dt><dd>${deviceName(sel.c.gateId)}</dd>
            <dt>${t('checkin.passed')}</dt><dd>${dateTime(sel.c.passedAt || sel.c.grantedAt)}</dd>
          </dl>
          ${can.warn() && sel.c.status === 'inside' && html`<button type="button" class="warn" onClick=${() => openWarn({ sessionId: sel.s.id, room: S.seat.room, seat: S.seat.seat })}>${t('warn.action')}</button>`}`
        : html`<p>${t('seat.free')}</p>`}
      <button type="button" onClick=${() => { S.seat = null; update(); }}>${t('close')}</button>
    </aside>`}
    <${Feed} />
  </section>`;
}

function Feed() {
  return html`<h2>${t('feed.title')}</h2><ol id="feed" data-testid="feed" reversed>
    ${S.feed.map((l) => html`<li key=${l.seq} class=${l.deny ? 'deny' : ''}>${l.text}</li>`)}
  </ol>`;
}

function SessionsTable() {
  return html`<table id="sessions" data-testid="sessions">
    <thead><tr>${['code', 'name', 'status', 'opens', 'start', 'end', 'rooms', 'roster', 'inside'].map((k) => html`<th>${t(`session.${k}`)}</th>`)}</tr></thead>
    <tbody>${S.sessions.map(
      (s) => html`<tr key=${s.id} data-id=${s.id} class=${S.selected === s.id ? 'selected' : ''} onClick=${() => { S.selected = s.id; S.rosterErrors = []; void load.checkins(s.id).then(update); update(); }}>
        <td>${s.code}</td><td>${s.name}</td><td class=${`status-${s.status}`}>${code('status', s.status)}</td><td>${dateTime(s.checkInOpens)}</td>
        <td>${dateTime(s.start)}</td><td>${dateTime(s.end)}</td><td>${(s.rooms.length ? s.rooms : []).map(roomName).join('、') || '—'}</td><td>${s.rosterSize}</td><td>${s.inside}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

function Board({ sessionId, warn }) {
  const list = S.checkins[sessionId] || [];
  return html`<table id="checkins" data-testid="checkins">
    <thead><tr>${['name', 'id', 'room', 'seat', 'status', 'gate', 'granted', 'passed', 'left'].map((k) => html`<th>${t(`checkin.${k}`)}</th>`)}<th></th></tr></thead>
    <tbody>${list.map(
      (c) => html`<tr key=${c.requestId}>
        <td>${c.name}</td><td>${c.idMasked}</td><td>${roomName(c.room)}</td><td>${c.seat ?? ''}</td>
        <td class=${`status-${c.status}`}>${code('cstatus', c.status)}${c.offline ? t('checkin.offline') : ''}</td>
        <td>${deviceName(c.gateId)}</td><td>${timeOnly(c.grantedAt)}</td><td>${timeOnly(c.passedAt)}</td><td>${timeOnly(c.leftAt)}</td>
        <td>${warn && can.warn() && c.status === 'inside' && c.room ? html`<button type="button" class="warn" onClick=${() => openWarn({ sessionId, room: c.room, seat: c.seat })}>${t('warn.action')}</button>` : ''}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}

function Sessions() {
  const s = S.sessions.find((x) => x.id === S.selected);
  const rooms = S.facility ? S.facility.rooms : [];
  return html`<section>
    <${SessionsTable} />
    ${can.manageSessions() &&
    html`<details class="panel" id="create-session">
      <summary>${t('session.create')}</summary>
      <form id="new-session" onSubmit=${createSession}>
        <label>${t('session.code')} <input name="code" required maxlength="64" /></label>
        <label>${t('session.name')} <input name="name" required maxlength="200" /></label>
        <label>${t('session.start')} <input name="start" type="datetime-local" required /></label>
        <label>${t('session.end')} <input name="end" type="datetime-local" required /></label>
        <fieldset><legend>${t('session.rooms')}</legend>${rooms.map((r) => html`<label><input type="checkbox" name="room" value=${r.id} /> ${r.name}</label>`)}</fieldset>
        <button type="submit">${t('session.create')}</button>
        <p role="status" id="create-result">${S.messages.create || ''}</p>
      </form>
    </details>`}
    ${s &&
    html`<div id="session-detail">
      <h2>${t('checkin.board')} · <span id="session-title">${s.code} ${s.name}（${code('status', s.status)}）</span></h2>
      ${can.manageSessions() &&
      html`<form id="roster" class="panel" onSubmit=${uploadRoster}>
        <label>${t('roster.upload')} <input type="file" name="file" accept=".csv,text/csv" required /></label>
        <button type="submit">${t('roster.submit')}</button>
        <p role="status" id="roster-result">${S.messages.roster || ''}</p>
        ${S.rosterErrors.length > 0 && html`<ul id="roster-errors" class="error">${S.rosterErrors.map((r) => html`<li>${t('roster.row', r)}</li>`)}</ul>`}
      </form>`}
      <div class="actions">
        ${can.closeSession() && s.status !== 'closed' && html`<button type="button" id="close-session" onClick=${() => sessionAction('close')}>${t('session.closeIt')}</button>`}
        ${can.manageSessions() && s.status === 'scheduled' && html`<button type="button" id="cancel-session" onClick=${() => sessionAction('cancel')}>${t('session.cancelIt')}</button>`}
        <a href="#/timeline">${t('nav.timeline')}</a>
        <span role="status">${S.messages.session || ''}</span>
      </div>
      <${Board} sessionId=${s.id} warn=${true} />
    </div>`}
  </section>`;
}

function Supervise() {
  const w = S.warnTarget || {};
  const b = S.broadcast;
  const session = S.sessions.find((s) => s.id === (w.sessionId || S.selected));
  const rooms = session && session.rooms.length ? session.rooms : S.facility ? S.facility.rooms.map((r) => r.id) : [];
  const onTarget = (ev) => {
    const f = Object.fromEntries(new FormData(ev.currentTarget.form).entries());
    S.warnTarget = { sessionId: f.sessionId || undefined, room: f.room || undefined, seat: f.seat ? Number(f.seat) : undefined };
    update();
  };
  return html`<section id="supervise">
    <form id="warn" class="panel" onSubmit=${sendWarning}>
      <h3 id="warn-target">${w.room ? t('seat.title', { room: roomName(w.room), seat: w.seat ?? '' }) : session ? `${session.code} ${t('warn.whole')}` : t('session.noneSelected')}</h3>
      <label>${t('session.pick')} <select name="sessionId" onChange=${onTarget}>
        <option value="">—</option>
        ${activeSessions().map((s) => html`<option value=${s.id} selected=${session && session.id === s.id}>${s.code} ${s.name}</option>`)}
      </select></label>
      <label>${t('warn.room')} <select name="room" onChange=${onTarget}>
        <option value="">${t('warn.whole')}</option>
        ${rooms.map((r) => html`<option value=${r} selected=${w.room === r}>${roomName(r)}</option>`)}
      </select></label>
      <label>${t('warn.seat')} <input name="seat" type="number" min="1" max="500" value=${w.seat ?? ''} onChange=${onTarget} /></label>
      <label>${t('warn.catalogue')} <select name="messageId">
        <option value="">—</option>
        ${(b ? b.messages : []).map((m) => html`<option value=${m.id}>${m.id}. ${m.text}</option>`)}
      </select></label>
      <label>${t('warn.text')} <input name="text" maxlength="300" /></label>
      <label>${t('warn.reason')} <input name="reason" maxlength="500" required /></label>
      ${can.warn() && html`<button type="submit">${t('warn.submit')}</button>
        <button type="button" onClick=${(ev) => liveCall(ev, true)}>${t('call.start')}</button>
        ${b && b.calls.length > 0 && html`<button type="button" onClick=${(ev) => liveCall(ev, false)}>${t('call.stop')}</button>`}`}
      <p id="warn-result" role="status">${S.messages.warn || ''}</p>
    </form>
    <h2>${t('warn.log')}</h2>
    <table id="warn-log"><thead><tr><th>${t('tl.time')}</th><th>${t('tl.type')}</th><th>${t('warn.target')}</th><th>${t('tl.actor')}</th><th>${t('tl.detail')}</th></tr></thead>
      <tbody>${(b ? b.recent : []).map(
        (e) => html`<tr key=${e.id} data-id=${e.id}><td>${dateTime(e.at)}</td><td class="source">${code('source', e.source)}</td><td>${(e.rooms || []).map((r) => roomName(r)).join('、')}${e.seat ? ` ${t('seat.n', { n: e.seat })}` : ''}</td>
          <td>${e.displayName || actorText(e.by)}</td><td class="detail">${[e.reason, e.message && e.message.text].filter(Boolean).join(' · ')} · ${e.confirmed ? t('warn.logConfirmed') : t('warn.logUnconfirmed')}</td></tr>`,
      )}</tbody></table>
  </section>`;
}

function Power() {
  const p = S.power;
  if (p === null) return html`<p>${t('na')}</p>`;
  if (!p) return null;
  const series = (S.powerHistory && S.powerHistory.series) || {};
  return html`<section id="power" data-testid="power">
    <div class="cards">
      <div class=${`card ${p.state === 'mains-ok' ? 'ok' : 'bad'}`}><span>${t('power.state')}</span><b>${code('pstate', p.state)}</b></div>
      <div class="card"><span>${t('power.mains')}</span><b>${p.mains === null ? t('pstate.unknown') : p.mains ? t('power.present') : t('power.absent')}</b></div>
      <div class="card"><span>${t('power.battery')}</span><b>${p.battery && p.battery.charge !== null ? `${p.battery.charge}%` : '—'}</b></div>
      <div class="card"><span>${t('power.runtime')}</span><b>${p.runtime !== null && p.runtime !== undefined ? t('power.minutes', { n: Math.round(p.runtime / 60) }) : '—'}</b></div>
      <div class="card"><span>${t('power.stage')}</span><b>${p.stage ? code('stage', p.stage) : t('none')}</b></div>
    </div>
    <h2>${t('power.battery')} · ${t('power.history', { h: 6 })}</h2>
    <${Chart} id="power-chart" series=${{ [t('power.battery')]: series['ups.charge'] || [], [`${t('power.runtime')} (min)`]: series['ups.runtime-min'] || [] }} />
    <h2>${t('power.loads')}</h2>
    <table><thead><tr><th>${t('device.name')}</th><th>${t('jam.state')}</th><th>${t('power.shed')}</th></tr></thead>
      <tbody>${(p.loads || []).map((l) => html`<tr key=${l.outputId}><td>${l.name}</td><td>${l.on === null ? t('jam.unknown') : l.on ? t('jam.on') : t('jam.off')}</td><td>${l.shed ? t('yes') : ''}</td></tr>`)}</tbody></table>
  </section>`;
}

/** A uPlot line chart of {label: [[iso, value]…]}; re-created when its data changes. */
function Chart({ id, series }) {
  return html`<div class="chart" id=${id} ref=${(el) => el && lineChart(el, series)}></div>`;
}

function alarmText(a) {
  const [kind, dev, rest] = a.id.split(':');
  const params = { device: deviceName(a.deviceId || dev), output: rest || '' };
  if (kind === 'broadcast') return t('alarm.broadcast-zone', params);
  const key = `alarm.${kind}`;
  const text = t(key, params);
  return text === key ? a.message : text;
}

function Alarms() {
  return html`<section><ul id="alarms" data-testid="alarms">
    ${S.alarms.length === 0
      ? html`<li class="none">${t('alarms.none')}</li>`
      : S.alarms.map(
          (a) => html`<li key=${a.id} class=${a.severity} data-id=${a.id}>
            <span class="sev">${code('sev', a.severity)}</span> · ${dateTime(a.raisedAt)} · ${deviceName(a.deviceId) || a.source}：${alarmText(a)}
            ${a.acknowledged ? ` · ${t('alarms.acked', { who: a.acknowledged.displayName || a.acknowledged.by })}` : ''}
            ${can.ack() && !a.acknowledged && html`<button type="button" onClick=${() => ackAlarm(a.id)}>${t('alarms.ack')}</button>`}
          </li>`,
        )}
  </ul>${DemoFire()}<p role="status">${S.messages.alarms || ''}</p></section>`;
}

function DemoFire() {
  const demo = S.optional.demo;
  if (!demo || !demo.firePanels || demo.firePanels.length === 0 || !can.manageSessions()) return '';
  return html`<p class="actions" id="demo-fire">${t('demo.fire.title')}
    <button type="button" id="demo-fire-alarm" onClick=${() => demoFire('alarm')}>${t('demo.fire.alarm')}</button>
    <button type="button" id="demo-fire-clear" onClick=${() => demoFire('clear')}>${t('demo.fire.clear')}</button></p>`;
}

function actorText(actor) {
  const [kind, who] = String(actor).split(':');
  return who ? `${code('actor', kind)} ${kind === 'device' ? deviceName(who) : who}` : code('actor', kind);
}

function Timeline() {
  const s = S.sessions.find((x) => x.id === S.selected);
  const pick = (ev) => {
    S.selected = ev.currentTarget.value || null;
    void load.timeline(S.selected).then(update);
  };
  return html`<section id="timeline">
    <div class="actions no-print">
      <label>${t('session.pick')} <select onChange=${pick}><option value="">—</option>${S.sessions.map((x) => html`<option value=${x.id} selected=${x.id === S.selected}>${x.code} ${x.name}</option>`)}</select></label>
      <button type="button" onClick=${() => window.print()} disabled=${!s}>${t('tl.print')}</button>
      ${s && html`<a href=${`/api/sessions/${encodeURIComponent(s.id)}/evidence`} id="export" onClick=${(ev) => { ev.preventDefault(); say('timeline', t('na')); }}>${t('tl.export')}</a>`}
      <span role="status">${S.messages.timeline || ''}</span>
    </div>
    ${s && html`<div class="report">
      <h2>${t('tl.report')}：${s.code} ${s.name}</h2>
      <p>${code('status', s.status)} · ${dateTime(s.start)} – ${dateTime(s.end)} · ${(s.rooms || []).map(roomName).join('、')}</p>
      <p id="audit">${S.audit === null || S.audit === undefined ? t('tl.verifyNa') : S.audit.ok ? t('tl.verifyOk', { n: S.audit.records }) : t('tl.verifyBad', { seq: S.audit.seq })}</p>
      <table id="timeline-table"><thead><tr><th>${t('tl.time')}</th><th>${t('tl.type')}</th><th>${t('tl.actor')}</th><th>${t('tl.device')}</th><th>${t('tl.detail')}</th></tr></thead>
        <tbody>${S.timeline.map(
          (e) => html`<tr key=${e.seq}><td>${dateTime(e.time)}</td><td class="type" title=${e.type}>${code('ev', e.type)}</td><td>${actorText(e.actor)}</td><td>${deviceName(e.deviceId)}</td>
            <td class="detail">${detailText(e)}</td></tr>`,
        )}</tbody></table>
      <p class="print-only">${t('tl.printed', { time: new Date().toLocaleString(getLang() === 'en' ? 'en-GB' : 'zh-CN') })}</p>
    </div>`}
  </section>`;
}

function detailText(e) {
  const d = e.data || {};
  const parts = [];
  if (d.room) parts.push(`${roomName(d.room)}${d.seat ? ` ${t('seat.n', { n: d.seat })}` : ''}`);
  if (d.reason) parts.push(code('reason', d.reason));
  if (d.idMasked) parts.push(d.idMasked);
  if (d.text) parts.push(d.text);
  return parts.join(' · ');
}

function Health() {
  const hx = S.health;
  if (!hx) return null;
  const cur = hx.current;
  const subs = cur ? cur.subsystems : [];
  const series = {};
  for (const name of ['overall', ...subs.map((s) => s.subsystem)]) if (hx.series[name]) series[name === 'overall' ? t('health.overall') : t(`sub.${name}`)] = hx.series[name];
  const cls = (v) => (v === null ? 'na' : v >= 80 ? 'ok' : v >= 50 ? 'warn' : 'bad');
  return html`<section id="health" data-testid="health">
    <div class="cards">
      <div class=${`card big ${cls(cur ? cur.overall : null)}`} id="health-overall"><span>${t('health.overall')}</span><b>${cur && cur.overall !== null ? cur.overall : '—'}</b></div>
      ${subs.map((s) => html`<div class=${`card ${cls(s.score)}`} data-subsystem=${s.subsystem}><span>${t(`sub.${s.subsystem}`)}</span><b>${s.score === null ? t('health.na') : s.score}</b></div>`)}
    </div>
    <h2>${t('health.history')}</h2>
    <${Chart} id="health-chart" series=${series} />
  </section>`;
}

function Devices() {
  return html`<table id="devices" data-testid="devices">
    <thead><tr><th>${t('device.name')}</th><th>${t('device.kind')}</th><th>${t('device.available')}</th><th>${t('device.lastSeen')}</th></tr></thead>
    <tbody>${S.devices.map(
      (d) => html`<tr key=${d.id}><td>${d.name} <small>${d.id}</small></td><td>${code('kind', d.kind)}</td>
        <td class=${d.available ? '' : 'unavailable'}>${d.available ? t('yes') : `${t('no')}：${d.reason}`}</td><td>${d.lastSeen ? dateTime(d.lastSeen) : t('device.never')}</td></tr>`,
    )}</tbody>
  </table>`;
}

/** The jammer zones with their state and cause, and the admin override (reason and expiry required). */
function JammerZones({ jammers: j }) {
  if (!j) return html`<p class="na" id="jammers-na">${t('na')}</p>`;
  const zones = Array.isArray(j) ? j : j.zones || [];
  const state = (z) => (z.on === null ? t('jam.unknown') : z.on ? t('jam.on') : t('jam.off'));
  return html`
    ${j.interlock && html`<p class="banner alert" id="jam-interlock">${t('jcause.fire-interlock')} · ${dateTime(j.interlock.since)}</p>`}
    <table id="jammer-zones"><thead><tr><th>${t('jam.zone')}</th><th>${t('jam.state')}</th><th>${t('jam.cause')}</th><th>${t('jam.override')}</th></tr></thead>
      <tbody>${zones.map(
        (z) => html`<tr key=${z.id} data-zone=${z.id}><td>${roomName(z.room) || z.name || z.id}</td>
          <td class=${z.failing ? 'unavailable' : ''}>${state(z)}${z.failing ? ` · ${t('jam.failing')}` : ''}</td>
          <td class="cause">${code('jcause', z.cause)}${(z.sessions || []).length ? ` · ${z.sessions.map((s) => s.code).join('、')}` : ''}</td>
          <td class="override">${z.override ? t('jam.overrideText', { mode: z.override.mode === 'on' ? t('jam.on') : t('jam.off'), reason: z.override.reason, by: z.override.by, until: dateTime(z.override.until) }) : ''}</td></tr>`,
      )}</tbody></table>
    ${can.admin() &&
    html`<form id="jam-override" class="panel" noValidate onSubmit=${overrideJammer}>
      <h3>${t('jam.override')}</h3>
      <label>${t('jam.zone')} <select name="zone">${zones.map((z) => html`<option value=${z.id}>${roomName(z.room) || z.name || z.id}</option>`)}</select></label>
      <label>${t('jam.mode')} <select name="mode"><option value="off">${t('jam.forceOff')}</option><option value="on">${t('jam.forceOn')}</option></select></label>
      <label>${t('jam.reason')} <input name="reason" maxlength="500" /></label>
      <label>${t('jam.expiry')} <input name="minutes" type="number" min="1" max="10080" value="30" /></label>
      <button type="submit" name="apply">${t('jam.apply')}</button>
      <button type="button" name="end" onClick=${(ev) => endOverride(ev.currentTarget.form)}>${t('jam.end')}</button>
      <p id="jam-result" role="status" class=${S.messages.jamError ? 'error' : ''}>${S.messages.jam || ''}</p>
    </form>`}`;
}

function Jammers() {
  const j = S.optional.jammers;
  const r = S.optional.robot;
  const doors = S.devices.filter((d) => d.kind === 'door');
  return html`<section id="jammers">
    <h2>${t('nav.jammers')}</h2>
    <${JammerZones} jammers=${j} />
    <h2>${t('robot.tasks')}</h2>
    ${r ? RobotTasks(r.tasks || []) : html`<p class="na" id="robot-na">${t('na')}</p>`}
    <h2>${t('door.title')}</h2>
    <ul>${doors.map((d) => {
      // The door reports `contact` (docs/door.md); older controllers said `open: true|false`.
      const st = d.state || {};
      const open = st.contact !== undefined ? st.contact === 'open' : st.open;
      const lock = st.locked === undefined ? '' : st.locked ? ' 已锁 / locked' : ' 未锁 / unlocked';
      return html`<li>${d.name}：${d.available ? t('yes') : t('no')} ${open === undefined ? '' : open ? '开 / open' : '关 / closed'}${lock}</li>`;
    })}</ul>
  </section>`;
}

/** The robot's delivery tasks, newest first: where to, in which session, the state in words and why. */
function RobotTasks(tasks) {
  if (tasks.length === 0) return html`<p id="robot-tasks-none">${t('rtask.none')}</p>`;
  const sessionCode = (id) => (S.sessions.find((s) => s.id === id) || {}).code || id;
  const seats = (x) => x.stops.map((s) => `${roomName(s.room) || s.room} ${t('rtask.seat', { n: s.seat })}${s.delivered ? ' ✓' : ''}`).join('，');
  return html`<table id="robot-tasks"><thead><tr><th>${t('rtask.id')}</th><th>${t('rtask.session')}</th><th>${t('rtask.where')}</th><th>${t('rtask.state')}</th><th>${t('rtask.reason')}</th></tr></thead>
    <tbody>${[...tasks].reverse().map((x) => html`<tr key=${x.id} data-state=${x.state}><td>${x.meal ? `${x.meal} ` : ''}<small>${x.id}</small></td><td>${(x.sessionIds || [x.sessionId]).map(sessionCode).join('，')}</td><td>${seats(x)}</td>
      <td>${code('rtask', x.state)}${x.state === 'suspended' && x.suspendedFrom ? `（${code('rtask', x.suspendedFrom)}）` : ''}</td><td>${x.reason || ''}</td></tr>`)}</tbody></table>`;
}

/** User administration (admins only; the server enforces it): create, role, disable/enable, password reset. */
function Users() {
  const u = S.optional.users;
  if (!u) return html`<p class="na" id="users-na">${t('na')}</p>`;
  const list = Array.isArray(u) ? u : u.users || [];
  const roleOptions = (initial) => ROLES.map((r) => html`<option value=${r} selected=${r === initial}>${code('role', r)}</option>`);
  return html`<section id="users-view">
    <table id="users"><thead><tr><th>${t('users.name')}</th><th>${t('users.display')}</th><th>${t('users.role')}</th><th>${t('users.state')}</th><th>${t('users.created')}</th><th></th></tr></thead>
      <tbody>${list.map(
        (x) => html`<tr key=${x.username} data-user=${x.username} class=${x.disabled ? 'disabled' : ''}><td>${x.username}</td><td>${x.displayName}</td>
          <td><select name="role" aria-label=${t('users.role')} value=${x.role} onChange=${(ev) => changeUser(x.username, { role: ev.currentTarget.value })}>${roleOptions(x.role)}</select></td>
          <td class="state">${x.disabled ? t('users.disabled') : t('users.enabled')}</td><td>${dateTime(x.createdAt)}</td>
          <td><button type="button" class="toggle" onClick=${() => changeUser(x.username, { disabled: !x.disabled })}>${x.disabled ? t('users.enable') : t('users.disable')}</button></td></tr>`,
      )}</tbody></table>
    <p id="users-result" role="status" class=${S.messages.usersError ? 'error' : ''}>${S.messages.users || ''}</p>
    <div class="forms">
      <form id="new-user" class="panel" onSubmit=${createUser}>
        <h3>${t('users.create')}</h3>
        <label>${t('users.name')} <input name="username" required maxlength="64" pattern="[a-z][a-z0-9._\-]{0,63}" autocomplete="off" title=${t('users.nameRule')} /></label>
        <label>${t('users.display')} <input name="displayName" maxlength="100" /></label>
        <label>${t('users.role')} <select name="role">${roleOptions('viewer')}</select></label>
        <label>${t('users.password')} <input name="password" type="password" required minlength="12" maxlength="256" autocomplete="new-password" /></label>
        <button type="submit">${t('users.create')}</button>
      </form>
      <form id="reset-password" class="panel" onSubmit=${resetPassword}>
        <h3>${t('users.reset')}</h3>
        <label>${t('users.name')} <select name="username">${list.map((x) => html`<option value=${x.username}>${x.username}</option>`)}</select></label>
        <label>${t('users.newPassword')} <input name="password" type="password" required minlength="12" maxlength="256" autocomplete="new-password" /></label>
        <button type="submit">${t('users.reset')}</button>
      </form>
    </div>
  </section>`;
}

const VIEW_OF = { floor: FloorPlan, sessions: Sessions, supervise: Supervise, power: Power, alarms: Alarms, timeline: Timeline, health: Health, devices: Devices, jammers: Jammers, users: Users };

/** Views the role may open (the server enforces the same regardless). */
const allowed = (v) => (v === 'users' ? can.admin() : v === 'supervise' ? can.broadcast() : true);

function App() {
  const View = VIEW_OF[allowed(S.view) ? S.view : 'floor'];
  return html`<${Header} />
    ${S.user
      ? html`<${Nav} /><main id="main-view" data-view=${allowed(S.view) ? S.view : 'floor'}><${Banners} /><${View} /></main>`
      : html`<main><${Login} /></main>`}`;
}

window.addEventListener('hashchange', route);
route();
if (auth.token) enter().catch(() => leave());
else update();
