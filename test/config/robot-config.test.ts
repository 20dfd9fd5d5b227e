import t from 'tap';
import { parseFacility } from '../../config/load.js';

const base = `version: 1
site: { id: t }
rooms: [{ id: room-1, seats: 4 }]
devices:
  - { id: robot-1, kind: robot, transport: { type: mqtt } }
  - { id: door-1, kind: door, transport: { type: mqtt } }
  - { id: gate-1, kind: gate, transport: { type: mqtt } }
`;

void t.test('robot meal times: every bad entry at once, with its path; the defaults otherwise', async (t) => {
  const r = parseFacility(
    `${base}robot:
  door: gate-1
  meals:
    - { name: 午餐, cron: '30 11 * * *' }
    - { name: 午餐, cron: '0 17 * * *' }
    - { name: 晚餐, cron: '0 25 * * *' }
    - { name: 夜宵, cron: '0 0 22 * * *' }
`,
    'robot.yaml',
  );
  t.notOk(r.ok, 'refused');
  const errors = r.ok ? [] : r.errors;
  const at = (path: string) => errors.find((e) => e.path === path);
  t.match(at('/robot/meals/1/name'), { found: /午餐/, expected: /used once/ });
  t.match(at('/robot/meals/2/cron'), { found: /0 25/, expected: /valid cron expression/ });
  t.match(at('/robot/meals/3/cron'), { expected: /5 fields/ });
  t.match(at('/robot/door'), { found: /gate-1/, expected: /door device/ });
  t.equal(errors.length, 4, JSON.stringify(errors.map((e) => e.path)));

  const ok = parseFacility(base, 'robot.yaml');
  t.ok(ok.ok);
  if (ok.ok) t.same(ok.facility.robot, { meals: [], retryMs: 15000, resumeBatteryPercent: 50 }, 'no meals, the defaults');
});
