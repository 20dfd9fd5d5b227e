import t from 'tap';
import type { Page } from 'playwright-core';
import { demoPeople, badIdNumber } from '../../simulators/demo-people.js';
import { ADMIN_PASSWORD, waitFor } from '../helpers/hub.js';
import { launchChromium, startConsoleRig } from '../helpers/console-rig.js';

// Real Chromium (apt-get install chromium; never downloaded), real hub, real gate over MQTT,
// the PA controller simulator over TCP. One browser for the file: Chromium is heavy.
const PASSWORD = 'console-test-pw';

/** Site wall-clock time (+08:00) as a datetime-local value, `minutes` from now. */
function siteLocal(minutes: number): string {
  return new Date(Date.now() + 8 * 3600_000 + minutes * 60_000).toISOString().slice(0, 16);
}

interface Watch {
  errors: string[];
  failed: string[];
}

/** Every script error, console error, failed request and HTTP error answer of the page. */
function watch(page: Page): Watch {
  const w: Watch = { errors: [], failed: [] };
  page.on('pageerror', (err) => w.errors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(m.text());
  });
  page.on('requestfailed', (r) => {
    // A page that navigates away ends its own event stream: that is not a failure.
    if (!r.url().includes('/api/live')) w.failed.push(`${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) w.failed.push(`${r.request().method()} ${r.url()} ${r.status()}`);
  });
  return w;
}

async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#login input[name=username]', username);
  await page.fill('#login input[name=password]', password);
  await page.click('#login button[type=submit]');
}

void t.test('the console in Chinese: sessions, roster import, live floor plan, a warning from the catalogue, a viewer, the public display', async (t) => {
  const rig = await startConsoleRig();
  t.teardown(() => rig.stop());
  const { hub } = rig;
  await hub.users.create('sup1', 'supervisor', PASSWORD, '监督员一');
  await hub.users.create('view1', 'viewer', PASSWORD, '观察员');
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.setDefaultTimeout(10_000);
  const w = watch(page);

  // --- login in Chinese ---
  await page.goto(`${rig.base}/`);
  t.equal(new URL(page.url()).pathname, '/console/', '/ leads to the console');
  t.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  t.match(await page.textContent('#login-view'), /登录.*用户名.*密码/s, 'the login form is in Chinese');
  await logIn(page, 'admin', 'wrong-password');
  await page.locator('#login-error', { hasText: /./ }).waitFor();
  t.match(await page.textContent('#login-error'), /^用户名或密码错误/, 'a wrong password is explained in Chinese first');
  w.errors.length = 0; // the browser reports the refused login as a failed load
  w.failed.length = 0;
  await logIn(page, 'admin', ADMIN_PASSWORD);
  await page.locator('#live', { hasText: '实时连接' }).waitFor();
  t.match(await page.textContent('#user'), /Administrator（管理员）/);
  t.match(await page.textContent('nav'), /平面图.*评标场次.*监督面板.*电源.*告警.*时间线.*IT健康指数/s);
  t.match(await page.textContent('.room[data-room=room-1] h3'), '第一评标室', 'configured Chinese room names');

  // The English switch, and back.
  await page.click('#lang');
  await page.locator('nav', { hasText: 'Floor plan' }).waitFor();
  t.equal(await page.getAttribute('html', 'lang'), 'en');
  await page.click('#lang');
  await page.locator('nav', { hasText: '平面图' }).waitFor();

  // --- create a session and import a roster with one bad row ---
  await page.click('nav a[data-view=sessions]');
  await page.click('#create-session summary');
  await page.fill('#new-session input[name=code]', 'ZB-2026-118');
  await page.fill('#new-session input[name=name]', '道路工程评标');
  await page.fill('#new-session input[name=start]', siteLocal(30));
  await page.fill('#new-session input[name=end]', siteLocal(180));
  await page.check('#new-session input[value=room-1]');
  await page.check('#new-session input[value=room-2]');
  await page.check('#new-session input[value=room-3]'); // one expert of a session per room: three rooms for three
  await page.click('#new-session button[type=submit]');
  await page.locator('#create-result', { hasText: '已创建场次 ZB-2026-118' }).waitFor();
  const row = page.locator('#sessions tbody tr', { hasText: 'ZB-2026-118' });
  await row.locator('td', { hasText: '签到中' }).waitFor();
  t.match(await row.textContent(), /道路工程评标.*签到中.*第一评标室、第二评标室、第三评标室/, 'status and rooms in Chinese');

  const people = demoPeople(0, 3);
  const bad = 'name,idNumber,role\n' + `${people[0]!.name},${people[0]!.idNumber},expert\n` + `${people[1]!.name},${badIdNumber(1)},expert\n`;
  await page.setInputFiles('#roster input[type=file]', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
  await page.click('#roster button[type=submit]');
  await page.locator('#roster-errors li').first().waitFor();
  t.equal(await page.locator('#roster-errors li').count(), 1, 'one bad row, one error');
  t.match(await page.textContent('#roster-errors'), /第 2 行 idNumber/, 'the bad row and its field');
  t.match(await page.textContent('#roster-result'), /1 行有错误，未作任何修改/);
  const session = hub.sessions.list().find((s) => s.code === 'ZB-2026-118')!;
  t.equal(rig.checkin.roster(session.id).length, 0, 'nothing was imported');
  t.notOk((await page.content()).includes(badIdNumber(1)), 'the error does not echo the ID number');
  // The refused import is an HTTP 400 the page handled; it is not a failure of the page.
  t.match(w.failed, [/POST .*\/roster 400$/]);
  w.failed.length = 0;
  w.errors.length = 0;

  const good = 'name,idNumber,role\n' + people.map((p) => `${p.name},${p.idNumber},expert`).join('\n') + '\n';
  await page.setInputFiles('#roster input[type=file]', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
  await page.click('#roster button[type=submit]');
  await page.locator('#roster-result', { hasText: '已导入 3 人' }).waitFor();

  // --- a gate grants an expert: the floor plan and the board show them without a reload ---
  await page.click('nav a[data-view=floor]');
  const marker = await page.evaluate('window.__marker = 1');
  const granted = await rig.gate.present(people[0]!, { requestId: 'c-1', pass: false });
  t.equal(granted.decision, 'grant');
  await rig.gate.event('passed', { requestId: 'c-1' });
  const seat = page.locator(`.room[data-room=${granted.room}] .seat[data-seat="${granted.seat}"]`);
  await seat.and(page.locator('.taken.inside')).waitFor();
  t.equal(marker, 1);
  t.equal(await page.evaluate('window.__marker'), 1, 'the same page: no reload');
  t.match(await seat.textContent(), new RegExp(`${granted.seat}${people[0]!.name[0]}\\*+`), 'the seat shows the masked name');
  t.notOk((await seat.textContent())!.includes(people[0]!.name), 'not the full name on the plan');
  await page.locator('#feed li', { hasText: '核验通过' }).waitFor();
  await page.click('nav a[data-view=sessions]');
  await page.locator('#checkins tbody tr', { hasText: people[0]!.name }).locator('td', { hasText: '在场' }).waitFor();
  t.notOk((await page.content()).includes(people[0]!.idNumber), 'no clear ID number on the page');

  // --- a warning chosen from the catalogue reaches the PA controller ---
  await page.click('nav a[data-view=floor]');
  await seat.click();
  t.match(await page.textContent('#seat-detail'), new RegExp(`${people[0]!.name}.*在场.*ZB-2026-118`, 's'), "the seat's expert and status");
  await page.click('#seat-detail button.warn');
  await page.locator('#warn').waitFor();
  t.match(await page.textContent('#warn-target'), new RegExp(`第.评标室 ${granted.seat}号座`));
  await page.selectOption('#warn select[name=messageId]', '1');
  await page.fill('#warn input[name=reason]', '与邻座交谈');
  await page.click('#warn button[type=submit]');
  await page.locator('#warn-result', { hasText: '广播主机已确认' }).waitFor();
  await waitFor(() => rig.pa.log().some((p) => p.message === 1), 5000, 'the PA controller played message 1');
  const warned = hub.events.query({ sessionId: session.id }).find((e) => e.type === 'broadcast.warning');
  t.match(warned, { actor: 'user:admin', data: { reason: '与邻座交谈' } }, 'the warning is in the session log with its reason and who gave it');
  await page.locator('#warn-log tbody tr', { hasText: '与邻座交谈' }).waitFor();

  // The other views render without errors.
  for (const view of ['power', 'alarms', 'timeline', 'health', 'devices', 'jammers', 'users']) {
    await page.click(`nav a[data-view=${view}]`);
    await page.locator(`#main-view[data-view=${view}]`).waitFor();
    // The jammer zones come from the jammer feature; the robot feature answers its tasks (none here), and the page says so.
    if (view === 'jammers') {
      await page.locator('#jammers table tbody tr').first().waitFor();
      await page.locator('#robot-tasks-none', { hasText: '暂无送餐任务' }).waitFor();
    }
    if (view === 'users') await page.locator('#users tbody tr', { hasText: 'admin' }).first().waitFor();
    if (view === 'timeline') {
      // The session's log names each event type in Chinese; the code stays in the cell's title.
      await page.selectOption('#timeline select', session.id);
      const cell = page.locator('#timeline-table tbody td.type[title="broadcast.warning"]').first();
      await cell.waitFor();
      t.equal(await cell.textContent(), '警告广播', 'the timeline names the event type in Chinese');
      const types = await page.locator('#timeline-table tbody td.type').allTextContents();
      t.same(types.filter((x) => /^[a-z]+\.[a-z.-]+$/.test(x)), [], 'no raw event code on the timeline');
    }
  }
  t.same(w.errors, [], 'no script or console errors (admin)');
  t.same(w.failed, [], 'no failed requests (admin)');

  // --- a viewer sees no controls ---
  await page.click('#logout');
  await page.locator('#login-view').waitFor();
  await logIn(page, 'view1', PASSWORD);
  await page.locator('#live', { hasText: '实时连接' }).waitFor();
  t.equal(await page.locator('nav a[data-view=supervise]').count(), 0, 'no supervisor panel');
  t.equal(await page.locator('nav a[data-view=users]').count(), 0, 'no users view');
  await page.locator('#main-view[data-view=floor]').waitFor(); // the admin's last view (users) is not the viewer's
  await seat.click();
  await page.locator('#seat-detail').waitFor();
  t.equal(await page.locator('#main-view button.warn').count(), 0, 'no warn action on the plan');
  await page.click('nav a[data-view=sessions]');
  await page.click('#sessions tbody tr >> text=ZB-2026-118');
  await page.locator('#checkins tbody tr').first().waitFor();
  t.equal(await page.locator('#create-session, #roster, #close-session, #main-view button.warn').count(), 0, 'no session controls, no warn buttons');
  t.notOk((await page.textContent('#checkins'))!.includes(people[0]!.name), 'names masked for a viewer');
  await page.click('nav a[data-view=alarms]');
  t.equal(await page.locator('#alarms button').count(), 0, 'no acknowledge button');
  t.same(w.errors, [], 'no script or console errors (viewer)');
  t.same(w.failed, [], 'no failed requests (viewer)');

  // --- the public display: no ID number, masked or not, and no name anywhere in the DOM ---
  const pub = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const pw = watch(pub);
  await pub.goto(`${rig.base}/public`);
  await pub.locator(`.pub-room[data-room=${granted.room}] .count`, { hasText: '在场专家 1 人' }).waitFor();
  t.match(await pub.textContent(`.pub-room[data-room=${granted.room}]`), /使用中.*ZB-2026-118 道路工程评标 · 签到中/s);
  const dom = await pub.content();
  for (const p of people) {
    t.notOk(dom.includes(p.name), 'no name on the public display');
    t.notOk(dom.includes(p.name[0]! + '*'), 'no masked name either');
    t.notOk(dom.includes(p.idNumber.slice(0, 6)) || dom.includes(p.idNumber.slice(-4)), 'no part of an ID number');
  }
  t.notMatch(dom, /\d{4}\*{4,}|\*{4,}\d{2,}/, 'no masked ID number');
  // It follows live: a second expert arrives.
  await rig.gate.present(people[1]!, { requestId: 'c-2' });
  await pub.locator('.pub-head', { hasText: '在场专家共 2 人' }).waitFor();
  t.same(pw.errors, [], 'no script or console errors (public)');
  t.same(pw.failed, [], 'no failed requests (public)');
});
