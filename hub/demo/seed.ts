import type { Hub } from '../hub.js';
import type { CheckIn } from '../checkin/checkin.js';
import { demoPeople, type DemoPerson } from '../../simulators/demo-people.js';

/** The demo's sessions, relative to the moment of seeding, with who is on each roster. */
export interface DemoSessionPlan {
  code: string;
  name: string;
  startInMin: number;
  endInMin: number;
  rooms?: string[];
  people: DemoPerson[];
}

export function demoPlan(): DemoSessionPlan[] {
  return [
    { code: 'YJ-2026-101', name: '县第一高级中学教学楼改造工程施工', startInMin: 20, endInMin: 240, people: demoPeople(0, 4) },
    { code: 'YJ-2026-102', name: '城区污水管网改造工程监理', startInMin: 40, endInMin: 200, people: demoPeople(4, 3) },
    // Check-in opens in five hours: its experts arrive early.
    { code: 'YJ-2026-103', name: '乡镇卫生院医疗设备采购', startInMin: 360, endInMin: 480, people: demoPeople(7, 3) },
    // Ends in a few minutes: its experts arrive late afterwards.
    { code: 'YJ-2026-099', name: '农村公路养护服务采购', startInMin: -60, endInMin: 3, rooms: ['room-1', 'room-2'], people: demoPeople(10, 2) },
  ];
}

/**
 * Seeds a fresh demo data dir with sessions and rosters, as the trading platform would
 * push them, so the simulated gates have a live check-in flow. Does nothing when the
 * data dir already has sessions.
 */
export async function seedDemo(hub: Hub, checkin: CheckIn): Promise<number> {
  if (hub.sessions.list().length > 0) return 0;
  const now = hub.clock.now();
  let n = 0;
  for (const plan of demoPlan()) {
    const rooms = plan.rooms ?? hub.facility.rooms.map((r) => r.id);
    if (!rooms.every((r) => hub.facility.rooms.some((x) => x.id === r))) continue;
    const { session } = await hub.sessions.create(
      { code: plan.code, name: plan.name, start: now + plan.startInMin * 60_000, end: now + plan.endInMin * 60_000, rooms },
      'automation:demo-seed',
    );
    const { entries, errors } = checkin.validateRoster(plan.people.map((p) => ({ name: p.name, idNumber: p.idNumber })));
    if (errors.length) throw new Error(`demo roster invalid: ${JSON.stringify(errors)}`);
    await checkin.replaceRoster(session.id, entries, 'automation:demo-seed');
    n++;
  }
  return n;
}
