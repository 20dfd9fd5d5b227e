// The public display for the service hall (/public): no login, and nothing personal ever
// reaches it — /api/live/public carries only rooms in session, jammer state and counts.
// EventSource reconnects by itself; each message is the whole snapshot, so nothing to resume.
import { h, render } from '/console/vendor/preact.js';
import htm from '/console/vendor/htm.js';
import { t, code, dateTime } from '/console/i18n.js';

const html = htm.bind(h);
let snap = null;
let live = false;

function Room({ r }) {
  const busy = r.sessions.length > 0;
  return html`<div class=${`pub-room ${busy ? 'busy' : 'idle'}`} data-room=${r.id}>
    <h2>${r.name}</h2>
    <p class="state">${busy ? t('pub.inSession') : t('pub.idle')}</p>
    ${r.sessions.map((s) => html`<p class="session">${s.code} ${s.name} · ${code('status', s.status)}</p>`)}
    <p class="count">${t('pub.inside', { n: r.inside })}</p>
    ${r.jammer !== null && html`<p class=${`jam ${r.jammer}`}>${t('pub.jammer')}：${code('jam', r.jammer)}</p>`}
  </div>`;
}

function App() {
  if (!snap) return html`<p class="pub-wait">…</p>`;
  return html`<header class="pub-head"><h1>${snap.site} · ${t('pub.title')}</h1>
      <p>${t('pub.sessions', { n: snap.totals.sessions })} · ${t('pub.total', { n: snap.totals.inside })} · <span class=${live ? 'live on' : 'live off'}>${t('pub.updated', { time: dateTime(snap.at) })}</span></p></header>
    <main class="pub-rooms">${snap.rooms.map((r) => html`<${Room} key=${r.id} r=${r} />`)}</main>`;
}

const draw = () => render(html`<${App} />`, document.getElementById('app'));
const source = new EventSource('/api/live/public');
source.addEventListener('public', (m) => {
  snap = JSON.parse(m.data);
  live = true;
  draw();
});
source.onerror = () => {
  live = false;
  draw();
};
draw();
