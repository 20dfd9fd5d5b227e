import t from 'tap';
import fc from 'fast-check';
import { REPORTED_STATES } from '../../../devices/robot.js';
import { ON_ROBOT, TERMINAL, step, type TaskCore, type TaskInput, type TaskState } from '../../../hub/robot/machine.js';

const task = (state: TaskState = 'queued', suspendedFrom: TaskState | null = null): TaskCore => ({
  state,
  suspendedFrom,
  reason: null,
  stops: [
    { room: 'room-1', seat: 1, items: ['午餐'], delivered: false },
    { room: 'room-1', seat: 3, items: ['午餐'], delivered: false },
  ],
});
const report = (state: (typeof REPORTED_STATES)[number], extra: Partial<Extract<TaskInput, { kind: 'report' }>> = {}): TaskInput => ({ kind: 'report', state, ...extra });

function run(inputs: TaskInput[], from = task()): TaskCore {
  let cur = from;
  for (const i of inputs) {
    const r = step(cur, i);
    if (!r.ok) throw new Error(r.reason);
    cur = r.task;
  }
  return cur;
}

void t.test('the whole delivery: queued → dispatched → at-door → in-area → delivered per seat → returned', async (t) => {
  let cur = run([report('dispatched'), report('at-door'), report('in-area')]);
  t.equal(cur.state, 'in-area');
  const first = step(cur, report('delivered', { room: 'room-1', seat: 3 }));
  t.ok(first.ok);
  if (!first.ok) return;
  t.equal(first.task.state, 'in-area', 'one seat of two: still in the area');
  t.same(first.record, { step: 'delivered', from: 'in-area', to: 'in-area', room: 'room-1', seat: 3 });
  cur = run([report('delivered', { room: 'room-1', seat: 1 })], first.task);
  t.equal(cur.state, 'delivered', 'the last seat makes the task delivered');
  t.same(cur.stops.map((s) => s.delivered), [true, true]);
  t.equal(run([report('returned')], cur).state, 'returned');
});

void t.test('out of order, unknown seats and repeats are refused with the reason, and change nothing', async (t) => {
  const q = task();
  const cases: [TaskCore, TaskInput, RegExp][] = [
    [q, report('at-door'), /at-door reported while the task is queued \(expected after dispatched\)/],
    [q, report('in-area'), /expected after at-door/],
    [q, report('returned'), /expected after delivered/],
    [q, report('failed', { reason: 'x' }), /does not carry it/],
    [task('dispatched'), report('dispatched'), /dispatched reported while the task is dispatched/],
    [task('in-area'), report('delivered', { room: 'room-2', seat: 1 }), /room-2 seat 1 is not a stop/],
    [task('in-area'), report('delivered'), /must name the room and the seat/],
    [run([report('dispatched'), report('at-door'), report('in-area'), report('delivered', { room: 'room-1', seat: 1 })]), report('delivered', { room: 'room-1', seat: 1 }), /already delivered/],
    [task('returned'), report('returned'), /the task is returned: nothing follows/],
    [task('cancelled'), { kind: 'resume' }, /nothing follows/],
    [task('in-area'), { kind: 'resume' }, /only a suspended task resumes/],
    [task('suspended', 'in-area'), { kind: 'suspend', reason: 'fire' }, /already suspended/],
    [q, { kind: 'robot-trouble', reason: 'battery-low' }, /queued: nothing to re-queue/],
  ];
  for (const [from, input, why] of cases) {
    const before = JSON.stringify(from);
    const r = step(from, input);
    t.notOk(r.ok, `${JSON.stringify(input)} on ${from.state}`);
    if (!r.ok) t.match(r.reason, why);
    t.equal(JSON.stringify(from), before, 'the task given is not changed');
  }
});

void t.test('low battery or a fault: re-queued before the area, failed inside it', async (t) => {
  for (const s of ['dispatched', 'at-door'] as const) {
    const r = step(task(s), { kind: 'robot-trouble', reason: 'battery-low (12%)' });
    t.match(r, { ok: true, task: { state: 'queued', reason: 'battery-low (12%)' }, record: { step: 'requeued', from: s, to: 'queued' } });
  }
  for (const s of ['in-area', 'delivered'] as const) {
    t.match(step(task(s), { kind: 'robot-trouble', reason: 'fault: E-DRIVE' }), { ok: true, task: { state: 'failed', reason: 'fault: E-DRIVE' } });
  }
  t.match(step(task('suspended', 'at-door'), { kind: 'robot-trouble', reason: 'battery-low' }), { ok: true, task: { state: 'suspended', suspendedFrom: 'queued' } }, 'suspended outside the area: stays suspended, resumes into the queue');
});

void t.test('fire: suspended from where it was, resumed back there; cancel from any open state', async (t) => {
  const s = step(task('at-door'), { kind: 'suspend', reason: 'fire alarm (fire-1)' });
  t.match(s, { ok: true, task: { state: 'suspended', suspendedFrom: 'at-door' } });
  if (!s.ok) return;
  t.match(step(s.task, { kind: 'resume' }), { ok: true, task: { state: 'at-door', suspendedFrom: null }, record: { step: 'resumed', from: 'suspended', to: 'at-door' } });
  const late = step(s.task, { kind: 'report', state: 'in-area' });
  t.match(late, { ok: true, task: { state: 'suspended', suspendedFrom: 'in-area' }, record: { step: 'in-area', from: 'suspended', to: 'suspended' } }, 'a step made before the park is recorded; the task stays suspended');
  t.notOk(step(s.task, { kind: 'report', state: 'returned' }).ok, 'out of order while suspended is still refused');
  for (const st of ['queued', 'dispatched', 'at-door', 'in-area', 'delivered', 'suspended'] as const) {
    t.match(step(task(st, st === 'suspended' ? 'queued' : null), { kind: 'cancel', reason: 'no longer needed' }), { ok: true, task: { state: 'cancelled' } }, st);
  }
});

/** Any sequence of inputs: every refusal changes nothing, terminal stays terminal, deliveries only grow. */
void t.test('property: the life cycle never leaves a terminal state and never loses a delivery', async (t) => {
  const input: fc.Arbitrary<TaskInput> = fc.oneof(
    fc.record({ kind: fc.constant('report' as const), state: fc.constantFrom(...REPORTED_STATES), room: fc.constantFrom('room-1', 'room-2'), seat: fc.constantFrom(1, 2, 3), reason: fc.constant('x') }),
    fc.constant<TaskInput>({ kind: 'cancel', reason: 'c' }),
    fc.constant<TaskInput>({ kind: 'suspend', reason: 'fire' }),
    fc.constant<TaskInput>({ kind: 'resume' }),
    fc.constant<TaskInput>({ kind: 'robot-trouble', reason: 'battery-low' }),
  );
  fc.assert(
    fc.property(fc.array(input, { maxLength: 40 }), (inputs) => {
      let cur = task();
      for (const i of inputs) {
        const before = JSON.stringify(cur);
        const r = step(cur, i);
        if (!r.ok) {
          if (JSON.stringify(cur) !== before) return false;
          continue;
        }
        if (TERMINAL.includes(cur.state)) return false; // nothing follows a terminal state
        if (r.record.from !== cur.state || r.record.to !== r.task.state) return false;
        // Delivered seats stay delivered; a re-queued task has not been in the area.
        if (cur.stops.some((s, j) => s.delivered && !r.task.stops[j]!.delivered)) return false;
        if (r.task.state === 'delivered' && !r.task.stops.every((s) => s.delivered)) return false;
        if (r.task.state === 'returned' && cur.state !== 'delivered' && !(cur.state === 'suspended' && cur.suspendedFrom === 'delivered')) return false;
        if (r.task.state === 'suspended' && (r.task.suspendedFrom === null || r.task.suspendedFrom === 'suspended' || TERMINAL.includes(r.task.suspendedFrom))) return false;
        if (r.record.step === 'requeued' && cur.stops.some((s) => s.delivered)) return false;
        cur = r.task;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass('500 random input sequences');
  t.same([...ON_ROBOT], ['dispatched', 'at-door', 'in-area', 'delivered']);
});
