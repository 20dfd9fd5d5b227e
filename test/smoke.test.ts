import t from 'tap';
import { ManualClock } from '../kernel/clock.js';

void t.test('manual clock fires timers in order', async (t) => {
  const c = new ManualClock(0);
  const seen: number[] = [];
  c.setTimeout(() => seen.push(2), 20);
  c.setTimeout(() => seen.push(1), 10);
  c.advance(25);
  t.same(seen, [1, 2]);
});
