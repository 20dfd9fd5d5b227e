import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { demoPeople } from '../../simulators/demo-people.js';
import { startTestHub, waitFor } from '../helpers/hub.js';
import { startGatePaRig, T0 } from '../helpers/gate-pa.js';

// Real Chromium, as installed by CI (apt-get install chromium); never downloaded.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MIN = 60_000;
const PASSWORD = 'console-test-pw';

const CONSOLE_FACILITY = {
  rooms: [
    { id: 'room-1', seats: 4 },
    { id: 'room-2', seats: 4 },
    { id: 'room-3', seats: 4 },
  ],
  zones: [
    { zone: 1, room: 'room-1' },
    { zone: 2, room: 'room-2' },
    { zone: 3, room: 'room-3' },
  ],
  broadcast: '  messages:\n    - { id: 1, text: 请保持安静，专家之间禁止交谈。 }\n  warningWaitMs: 0',
};

async function launch(t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  return browser;
}

async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#login input[name=username]', username);
  await page.fill('#login input[name=password]', password);
  await page.click('#login button[type=submit]');
}

void t.test('the console shows the live check-in flow, and a supervisor warns a seat from it', async (t) => {
  const { sim, th, checkin, gate } = await startGatePaRig(t, CONSOLE_FACILITY);
  const { hub } = th;
  await hub.users.create('sup1', 'supervisor', PASSWORD, '监督员一');
  await hub.users.create('view1', 'viewer', PASSWORD, '观察员');
  const { session } = await hub.sessions.create({ code: 'ZB-2026-118', name: '道路工程评标', start: T0 + 30 * MIN, end: T0 + 180 * MIN }, 'user:admin');
  const people = demoPeople(0, 2);
  await checkin.replaceRoster(session.id, checkin.validateRoster(people).entries, 'user:admin');

  const browser = await launch(t);
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000); // the console polls every 2 s
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  const base = `http://127.0.0.1:${hub.httpPort}`;
  await page.goto(`${base}/`);
  t.equal(new URL(page.url()).pathname, '/console/', '/ leads to the console');

  await logIn(page, 'sup1', 'wrong-password');
  await page.locator('#login-error', { hasText: /./ }).waitFor();
  t.match(await page.textContent('#login-error'), /password|credentials/i, 'a wrong password is explained');
  t.ok(await page.isVisible('#login-view'), 'still on the login form');

  consoleErrors.length = 0; // the browser reports the refused login as a failed load
  await logIn(page, 'sup1', PASSWORD);
  await page.locator('#sessions tbody tr', { hasText: 'ZB-2026-118' }).waitFor();
  t.match(await page.textContent('#user'), /监督员一 \(supervisor\)/);
  t.match(await page.textContent('#sessions tbody'), /check-in/, 'the session is open for check-in');
  t.match(await page.textContent('#devices tbody'), /gate-1/);
  await page.click('#sessions tbody tr >> text=ZB-2026-118');

  // Two arrivals at the gate: one granted, one whose face does not match.
  const granted = await gate.present(people[0]!, { requestId: 'c-1', pass: false });
  t.equal(granted.decision, 'grant');
  const denied = await gate.present(people[1]!, { requestId: 'c-2', faceScore: 0.3 });
  t.equal(denied.reason, 'face-mismatch');
  const row = page.locator('#checkins tbody tr', { hasText: people[0]!.name });
  await row.waitFor();
  t.match(await row.textContent(), new RegExp(`${granted.room}.*${granted.seat}.*granted.*gate-1`), 'the grant with its room and seat');
  await page.locator('#feed li', { hasText: 'face-mismatch' }).waitFor();
  t.match(await page.textContent('#feed'), new RegExp(`granted .* → ${granted.room} seat ${granted.seat}`));
  t.notOk((await page.content()).includes(people[0]!.idNumber), 'no clear ID number on the page');
  // Clicks while a refresh runs queue one more refresh; they never read the log twice.
  t.equal((await gate.present(people[1]!, { faceScore: 0.2 })).reason, 'face-mismatch');
  // (A string: the tests are compiled without the DOM's types.)
  await page.evaluate("for (let i = 0; i < 5; i++) document.querySelector('#sessions tbody tr').click()");
  await page.waitForTimeout(2500);
  const lines = await page.locator('#feed li').allTextContents();
  t.equal(lines.filter((l) => l.includes('face-mismatch')).length, 2, 'each denial once in the feed');

  // Through the gate: inside, and a supervisor may warn that seat.
  await gate.event('passed', { requestId: 'c-1' });
  await row.locator('td', { hasText: 'inside' }).waitFor();
  await row.locator('button', { hasText: 'Warn' }).click();
  t.equal(await page.textContent('#warn-target'), `${granted.room} seat ${granted.seat}`);
  await page.fill('#warn input[name=reason]', '与邻座交谈');
  await page.click('#warn button[type=submit]');
  await page.locator('#warn-result', { hasText: /./ }).waitFor();
  t.match(await page.textContent('#warn-result'), /^Played .*confirmed by the controller/);
  await waitFor(() => sim.log().some((p) => p.text === '请遵守评标纪律'), 5000, 'the PA controller played it');
  const warned = hub.events.query({ sessionId: session.id }).find((e) => e.type.startsWith('broadcast.') && e.data.reason === '与邻座交谈');
  t.ok(warned, 'the warning is in the session log with its reason');
  t.match(JSON.stringify(warned), /sup1|监督员一/, 'and who gave it');

  // A gate lets someone in offline who is not on its allow-list: an alarm to acknowledge.
  t.match(await page.textContent('#alarms'), /No active alarm/);
  await gate.event('offline-pass', { requestId: 'off-x', idHash: 'cd'.repeat(32), sessionId: session.id });
  const alarm = page.locator('#alarms li', { hasText: 'gate-1' });
  await alarm.waitFor();
  t.match(await alarm.textContent(), /^warning · .* gate-1: gate-1 let someone in offline who is not on the current allow-list/);
  await alarm.locator('button', { hasText: 'Acknowledge' }).click();
  await page.locator('#alarms li', { hasText: 'No active alarm' }).waitFor();
  t.match(hub.events.query({ type: 'alarm.acknowledged' }), [{ actor: 'user:sup1', data: { id: 'offline-unmatched:off-x' } }]);

  await page.click('#logout');
  await page.locator('#login-view').waitFor();
  t.notOk(await page.isVisible('#main-view'), 'logged out');

  // A viewer sees masked names and gets no warn button.
  await logIn(page, 'view1', PASSWORD);
  await page.click('#sessions tbody tr >> text=ZB-2026-118');
  const viewerRow = page.locator('#checkins tbody tr', { hasText: granted.room! });
  await viewerRow.waitFor();
  t.notOk((await viewerRow.textContent())!.includes(people[0]!.name), 'the name is masked for a viewer');
  t.equal(await viewerRow.locator('button').count(), 0, 'no warn button for a viewer');
  t.same(pageErrors, [], 'no script errors on the page');
  t.same(consoleErrors, [], 'nothing failed to load');
});

void t.test('the console files are served with a strict content security policy', async (t) => {
  const th = await startTestHub({});
  t.teardown(() => th.stop());
  const app = th.hub.api();
  const root = await app.inject({ method: 'GET', url: '/' });
  t.equal(root.statusCode, 302);
  t.equal(root.headers.location, '/console/');
  for (const [url, type] of [
    ['/console/', /text\/html/],
    ['/console/console.js', /javascript/],
    ['/console/console.css', /text\/css/],
  ] as const) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 200, url);
    t.match(res.headers['content-type'], type);
    t.match(res.headers['content-security-policy'], /default-src 'self'/);
    t.equal(res.headers['x-content-type-options'], 'nosniff');
  }
  const missing = await app.inject({ method: 'GET', url: '/console/secrets.txt' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json<{ code: string }>().code, 'HUB_ERR_NOT_FOUND');
});
