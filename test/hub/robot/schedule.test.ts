/**
 * The meal schedule on a ManualClock: experts checked in through a real MQTT gate; at the
 * meal time (the schedule's own clock timer) the experts inside get one run per room, the
 * seats of every session in that room together (one expert of a session per room); a
 * second tick at the same minute creates nothing; a session's own meal times replace the
 * facility's.
 */
import t from 'tap';
import { demoPeople } from '../../../simulators/demo-people.js';
import { robotRig, MIN, T0 } from '../../helpers/robot-rig.js';
import { waitFor } from '../../helpers/hub.js';

const key = (s: { room: string; seat: number }): string => `${s.room}#${s.seat}`;

void t.test("meal time creates one run per room for the checked-in experts' seats", async (t) => {
  const r = await robotRig({ startSim: false });
  t.teardown(() => r.stop());
  const s1 = await r.session('MEAL-1');
  const s2 = await r.session('MEAL-2');
  const empty = await r.h.createSession({ code: 'MEAL-3', name: '无人场次', start: new Date(T0 - 10 * MIN).toISOString(), end: new Date(T0 + 300 * MIN).toISOString(), rooms: ['room-3'] });
  const people = demoPeople(0, 4);
  await r.h.roster(s1, people.slice(0, 2));
  await r.h.roster(s2, people.slice(2));
  const gate = await r.h.gate('gate-1');
  const seats: { sessionId: string; room: string; seat: number }[] = [];
  for (const p of people) {
    const a = await gate.present(p);
    t.equal(a.decision, 'grant', a.reason);
    seats.push({ sessionId: a.sessionId!, room: a.room!, seat: a.seat! });
  }
  const inside = () => [s1, s2].flatMap((id) => r.h.feature().checkin().checkins(id).filter((c) => c.status === 'inside'));
  await waitFor(() => inside().length === 4, 5000, 'four inside');

  // MEAL-2 has its own times: a snack at 10:00 and no lunch.
  const bad = await r.api('PUT', `/api/robot/sessions/${s2}/meals`, { meals: [{ name: '加餐', cron: '0 25 * * *' }] });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { code: 'HUB_ERR_VALIDATION', details: { field: 'body.meals[0].cron' } });
  const own = await r.api('PUT', `/api/robot/sessions/${s2}/meals`, { meals: [{ name: '加餐', cron: '0 10 * * *' }] });
  t.equal(own.statusCode, 200, own.body);
  t.match(own.json(), { own: true, meals: [{ name: '加餐' }] });
  t.match((await r.api('GET', `/api/robot/sessions/${s1}/meals`)).json(), { own: false, meals: [{ name: '午餐', cron: '30 11 * * *' }] });

  r.clock.set(T0 + 60 * MIN); // 10:00 +08:00: the schedule's minute timer fires
  await waitFor(() => r.robot.tasks().length > 0, 5000, 'the snack runs');
  await r.robot.idle();
  const snack = r.robot.tasks();
  const s2Seats = seats.filter((s) => s.sessionId === s2);
  t.same(snack.flatMap((x) => x.stops.map(key)).sort(), s2Seats.map(key).sort(), "the snack goes to MEAL-2's experts only");
  t.equal(snack.length, new Set(s2Seats.map((s) => s.room)).size, 'one run per room');
  for (const run of snack) {
    t.match(run, { meal: '加餐', source: 'automation:robot-meals', state: 'queued', robotId: 'robot-1', doorId: 'door-1', sessionIds: [s2] });
    t.match(run.id, /^meal-202611281000-room-[12]$/);
  }
  const again = await r.robot.mealTick();
  t.same(again.map((x) => x.id).sort(), snack.map((x) => x.id).sort(), 'a second tick at the same minute finds the same runs');
  t.equal(r.robot.tasks().length, snack.length, 'and creates none');
  t.equal(r.robot.tasks({ sessionId: s1 }).length, 0, 'MEAL-1 has no snack');

  // MEAL-2 back on the facility's times; one of its experts leaves before lunch.
  t.equal((await r.api('PUT', `/api/robot/sessions/${s2}/meals`, { meals: null })).json().own, false);
  await gate.exit(people[3]!.idNumber);
  await waitFor(() => inside().length === 3, 5000, 'three inside');
  r.clock.set(T0 + 150 * MIN); // 11:30
  await waitFor(() => r.robot.tasks().length > snack.length, 5000, 'the lunch runs');
  await r.robot.idle();
  const lunch = r.robot.tasks().filter((x) => x.meal === '午餐');
  const lunchSeats = seats.filter((s) => s.sessionId === s1 || s.seat !== seats[3]!.seat || s.room !== seats[3]!.room);
  t.same(lunch.flatMap((x) => x.stops.map(key)).sort(), lunchSeats.map(key).sort(), 'every expert inside, once; not the one who left');
  t.equal(lunch.length, new Set(lunchSeats.map((s) => s.room)).size, 'one run per room');
  const shared = lunch.find((x) => x.sessionIds.length === 2);
  t.ok(shared, 'a room with experts of both sessions is one run');
  t.same(shared!.stops.map((s) => s.sessionId).sort(), [s1, s2].sort(), 'each seat with its session');
  for (const id of [s1, s2]) {
    const logged = r.h.th.hub.events.query({ sessionId: id }).filter((e) => e.type === 'robot.task' && e.data.step === 'queued' && e.data.meal === '午餐');
    t.equal(logged.length, lunch.filter((x) => x.sessionIds.includes(id)).length, `each run is in the log of ${id === s1 ? 'MEAL-1' : 'MEAL-2'}`);
  }
  t.match(r.h.th.hub.events.query({ sessionId: empty.id }).find((e) => e.type === 'robot.meal.skipped'), { data: { meal: '午餐', reason: 'nobody is checked in' } });
});
