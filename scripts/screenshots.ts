/**
 * `npm run screenshots`: a PNG of every console view (and the public display) at 1920×1080
 * and 1366×768, in Chinese, into screenshots/ (git-ignored). It runs the console's test rig
 * (a real hub with simulated gate, PA controller, UPS and relay modules on free ports) with a
 * session, a roster and a few check-ins, in real headless Chromium.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { demoPeople } from '../simulators/demo-people.js';
import { ADMIN_PASSWORD } from '../test/helpers/hub.js';
import { launchChromium, startConsoleRig } from '../test/helpers/console-rig.js';

const OUT = join(process.cwd(), 'screenshots');
const VIEWS = ['floor', 'sessions', 'supervise', 'power', 'alarms', 'timeline', 'health', 'devices', 'jammers', 'users'];
const SIZES = [
  { width: 1920, height: 1080 },
  { width: 1366, height: 768 },
];

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const rig = await startConsoleRig();
  const browser = await launchChromium();
  try {
    const { hub } = rig;
    const now = Date.now();
    const { session } = await hub.sessions.create({ code: 'ZB-2026-118', name: '道路工程施工评标', start: now + 20 * 60_000, end: now + 200 * 60_000, rooms: ['room-1', 'room-2', 'room-3'] }, 'user:admin');
    const other = await hub.sessions.create({ code: 'CG-2026-052', name: '办公设备采购评标', start: now + 40 * 60_000, end: now + 160 * 60_000, rooms: ['room-1', 'room-2', 'room-3'] }, 'user:admin');
    const people = demoPeople(0, 6);
    await rig.checkin.replaceRoster(session.id, rig.checkin.validateRoster(people.slice(0, 3)).entries, 'user:admin');
    await rig.checkin.replaceRoster(other.session.id, rig.checkin.validateRoster(people.slice(3)).entries, 'user:admin');
    let n = 0;
    for (const p of people.slice(0, 5)) await rig.gate.present(p, { requestId: `shot-${++n}` });
    await rig.gate.present(demoPeople(50, 1)[0]!, { requestId: 'shot-x' }); // not on a roster: a denial in the feed
    for (let i = 0; i < 3; i++) await rig.health.sampleNow();

    for (const size of SIZES) {
      const page = await browser.newPage({ viewport: size });
      await page.goto(`${rig.base}/console/`);
      await page.fill('#login input[name=username]', 'admin');
      await page.fill('#login input[name=password]', ADMIN_PASSWORD);
      await page.click('#login button[type=submit]');
      await page.locator('#live', { hasText: '实时连接' }).waitFor();
      await page.screenshot({ path: join(OUT, `login-done-${size.width}x${size.height}.png`) });
      for (const view of VIEWS) {
        await page.click(`nav a[data-view=${view}]`);
        await page.locator(`#main-view[data-view=${view}]`).waitFor();
        if (view === 'sessions') await page.click('#sessions tbody tr >> text=ZB-2026-118');
        if (view === 'floor') await page.click('.seat.taken >> nth=0');
        if (view === 'timeline') await page.selectOption('#timeline select', session.id);
        await page.waitForTimeout(400); // charts and re-reads settle
        await page.screenshot({ path: join(OUT, `${view}-${size.width}x${size.height}.png`), fullPage: false });
      }
      await page.close();
      const pub = await browser.newPage({ viewport: size });
      await pub.goto(`${rig.base}/public`);
      await pub.locator('.pub-room').first().waitFor();
      await pub.screenshot({ path: join(OUT, `public-${size.width}x${size.height}.png`) });
      await pub.close();
    }
    console.log(`screenshots written to ${OUT}`);
  } finally {
    await browser.close();
    await rig.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
