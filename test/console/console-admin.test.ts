import t from 'tap';
import type { Page, Route } from 'playwright-core';
import { ADMIN_PASSWORD } from '../helpers/hub.js';
import { launchChromium, startConsoleRig } from '../helpers/console-rig.js';

// The console's admin side in real Chromium against the real hub: the jammer override (a
// reason and an expiry, checked by the page and by the server), user administration, the
// warning log, and a fire alarm from the fire panel simulator over MQTT. One browser, one rig.

interface Watch {
  errors: string[];
  failed: string[];
}

/** Script and console errors, failed requests and HTTP error answers of the page. */
function watch(page: Page): Watch {
  const w: Watch = { errors: [], failed: [] };
  page.on('pageerror', (err) => w.errors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(m.text());
  });
  page.on('requestfailed', (r) => {
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
  await page.locator('#live', { hasText: '实时连接' }).waitFor();
}

void t.test('the console for admins: jammer override with a reason, users, the warning log, a fire alarm within 2 s', async (t) => {
  const rig = await startConsoleRig();
  t.teardown(() => rig.stop());
  const { hub } = rig;
  const jammers = () => (hub.features.find((f) => f.name === 'jammers') as unknown as { snapshot(): { interlock: unknown; zones: { id: string; cause: string; override: { reason: string; by: string } | null }[] } }).snapshot();
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.setDefaultTimeout(10_000);
  const w = watch(page);
  await page.goto(`${rig.base}/console/`);
  await logIn(page, 'admin', ADMIN_PASSWORD);

  // --- a jammer override needs a reason ---
  const overrides: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/override')) overrides.push(r.method());
  });
  await page.click('nav a[data-view=jammers]');
  await page.locator('#jammer-zones tbody tr[data-zone=jammer-room-1]').waitFor();
  t.match(await page.textContent('#jammer-zones tr[data-zone=jammer-room-1] .cause'), '无评标场次', 'the cause in Chinese, not its code');
  await page.selectOption('#jam-override select[name=zone]', 'jammer-room-1');
  await page.selectOption('#jam-override select[name=mode]', 'on');
  await page.click('#jam-override button[name=apply]');
  await page.locator('#jam-result.error', { hasText: '请填写原因' }).waitFor();
  t.match(await page.textContent('#jam-result'), /^请填写原因（至少 2 个字）/, 'refused by the page, Chinese first');
  await page.fill('#jam-override input[name=reason]', ' ');
  await page.click('#jam-override button[name=apply]');
  await page.locator('#jam-result.error', { hasText: '请填写原因' }).waitFor();
  t.same(overrides, [], 'nothing was sent');
  t.equal(jammers().zones.find((z) => z.id === 'jammer-room-1')!.override, null, 'no override on the hub');

  // The page's check bypassed (the request rewritten on its way, as an old or forged page would
  // send it): the server refuses it with a 400 naming the field, and the page shows that answer.
  const forge = async (route: Route) => {
    const body = JSON.parse(route.request().postData() ?? '{}') as Record<string, unknown>;
    await route.continue({ postData: JSON.stringify({ ...body, reason: 'x' }) });
  };
  await page.route('**/api/jammers/*/override', forge);
  await page.fill('#jam-override input[name=reason]', '设备检修测试');
  await page.click('#jam-override button[name=apply]');
  await page.locator('#jam-result.error', { hasText: '未执行' }).waitFor();
  t.match(await page.textContent('#jam-result'), /^未执行：请求无效.*body\.reason.*至少 2 个字符/, "the server's 400, its field and rule shown");
  await page.unroute('**/api/jammers/*/override', forge);
  t.equal(jammers().zones.find((z) => z.id === 'jammer-room-1')!.override, null, 'still no override');
  t.match(w.failed, [/POST .*\/api\/jammers\/jammer-room-1\/override 400$/], 'the one refused request');
  w.failed.length = 0;
  w.errors.length = 0;

  // An expiry is needed too.
  await page.fill('#jam-override input[name=minutes]', '');
  await page.click('#jam-override button[name=apply]');
  await page.locator('#jam-result.error', { hasText: '请填写到期时间' }).waitFor();

  // With a reason and an expiry: applied, and listed with its cause.
  await page.fill('#jam-override input[name=minutes]', '45');
  await page.click('#jam-override button[name=apply]');
  await page.locator('#jam-result', { hasText: '已覆盖 第一评标室：管理员覆盖：开启' }).waitFor();
  const row = page.locator('#jammer-zones tr[data-zone=jammer-room-1]');
  await row.locator('.cause', { hasText: '管理员覆盖：开启' }).waitFor();
  t.match(await row.locator('.override').textContent(), /开启，至 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d，admin：设备检修测试/, 'the override with its expiry, who and why');
  t.match(jammers().zones.find((z) => z.id === 'jammer-room-1'), { cause: 'override-on', override: { reason: '设备检修测试', by: 'admin' } });
  // Ending it takes a reason as well.
  await page.fill('#jam-override input[name=reason]', '检修完毕');
  await page.click('#jam-override button[name=end]');
  await row.locator('.cause', { hasText: '无评标场次' }).waitFor();
  t.equal(jammers().zones.find((z) => z.id === 'jammer-room-1')!.override, null, 'ended');

  // --- the warning log shows what happened, in words, not the entry's raw source code ---
  await page.click('nav a[data-view=supervise]');
  await page.selectOption('#warn select[name=room]', 'room-2');
  await page.selectOption('#warn select[name=messageId]', '2');
  await page.fill('#warn input[name=reason]', '测试警示记录');
  await page.click('#warn button[type=submit]');
  await page.locator('#warn-result', { hasText: '广播主机已确认' }).waitFor();
  const logRow = page.locator('#warn-log tbody tr', { hasText: '测试警示记录' });
  await logRow.waitFor();
  t.equal(await logRow.locator('td.source').textContent(), '警示', 'the kind of entry in Chinese');
  t.notMatch(await logRow.textContent(), /warning|function|=>|\$\{|\{\w+\}/, 'no code, no template');
  t.match(await logRow.textContent(), /第二评标室.*Administrator.*测试警示记录 · 请勿使用手机等通讯工具。 · ✓ 已确认/s, 'target, who, why, what was played, confirmed');

  // --- users: create, change the role, disable and enable, reset the password ---
  await page.click('nav a[data-view=users]');
  await page.locator('#users tbody tr[data-user=admin]').waitFor();
  await page.fill('#new-user input[name=username]', 'duty2');
  await page.fill('#new-user input[name=displayName]', '值班员二');
  await page.selectOption('#new-user select[name=role]', 'operator');
  await page.fill('#new-user input[name=password]', 'initial-password-1');
  await page.click('#new-user button[type=submit]');
  await page.locator('#users-result', { hasText: '已创建用户 duty2（操作员）' }).waitFor();
  const duty = page.locator('#users tbody tr[data-user=duty2]');
  await duty.waitFor();
  t.match(await duty.textContent(), /duty2值班员二.*启用/s);
  t.equal(await duty.locator('select[name=role]').inputValue(), 'operator');
  t.match(hub.users.info('duty2'), { displayName: '值班员二', role: 'operator', disabled: false });

  await duty.locator('select[name=role]').selectOption('supervisor');
  await page.locator('#users-result', { hasText: '已将 duty2 的角色改为监督员' }).waitFor();
  t.equal(hub.users.info('duty2')!.role, 'supervisor', 'the role changed on the hub');

  await duty.locator('button.toggle').click();
  await duty.locator('.state', { hasText: '已停用' }).waitFor();
  t.equal(hub.users.info('duty2')!.disabled, true);
  await duty.locator('button.toggle').click();
  await duty.locator('.state', { hasText: '启用' }).waitFor();
  t.equal(hub.users.info('duty2')!.disabled, false);

  await page.selectOption('#reset-password select[name=username]', 'duty2');
  await page.fill('#reset-password input[name=password]', 'second-password-2');
  await page.click('#reset-password button[type=submit]');
  await page.locator('#users-result', { hasText: '已重置 duty2 的密码' }).waitFor();
  t.equal(await hub.users.login('duty2', 'initial-password-1'), null, 'the old password no longer works');

  // The last admin cannot be demoted: the server's 409 is shown and the table shows the truth again.
  await page.locator('#users tbody tr[data-user=admin] select[name=role]').selectOption('viewer');
  await page.locator('#users-result.error', { hasText: '未执行' }).waitFor();
  await page.waitForFunction(`document.querySelector('#users tr[data-user=admin] select[name=role]').value === 'admin'`);
  t.equal(hub.users.info('admin')!.role, 'admin');
  t.match(w.failed, [/PATCH .*\/api\/users\/admin 409$/]);
  w.failed.length = 0;
  w.errors.length = 0;

  // --- a fire alarm appears within 2 s, without a reload, and goes when the panel clears ---
  await page.click('nav a[data-view=alarms]');
  await page.evaluate('window.__marker = 1');
  await rig.fire.alarm();
  await page.locator('#fire', { hasText: '火灾报警：消防报警主机' }).waitFor({ timeout: 2000 });
  await page.locator('#alarms li[data-id="fire:fire-1"]', { hasText: '火灾报警：消防报警主机' }).waitFor({ timeout: 2000 });
  t.equal(await page.evaluate('window.__marker'), 1, 'the same page: no reload');
  await rig.fire.clear();
  await page.locator('#fire').waitFor({ state: 'detached' });
  await page.locator('#alarms li[data-id="fire:fire-1"]').waitFor({ state: 'detached' });
  t.same(w.errors, [], 'no script or console errors (admin)');
  t.same(w.failed, [], 'no failed requests (admin)');

  // --- a non-admin sees no users view, and the server refuses it anyway ---
  await page.click('#logout');
  await page.locator('#login-view').waitFor();
  await logIn(page, 'duty2', 'second-password-2');
  t.equal(await page.locator('nav a[data-view=users]').count(), 0, 'no users view in the menu');
  await page.goto(`${rig.base}/console/#/users`);
  await page.locator('#main-view[data-view=floor]').waitFor();
  t.equal(await page.locator('#users, #new-user').count(), 0, 'the users view does not open by its address');
  const status = await page.evaluate(`fetch('/api/users', { headers: { authorization: 'Bearer ' + sessionStorage.getItem('facility-hub.token') } }).then((r) => r.status)`);
  t.equal(status, 403, 'the server refuses the users API to a supervisor');
  w.failed.length = 0; // that 403 was asked for
  t.same(w.errors.filter((e) => !e.includes('403')), [], 'no script or console errors (supervisor)');
});
