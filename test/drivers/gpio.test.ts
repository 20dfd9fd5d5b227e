import t from 'tap';
import { existsSync } from 'node:fs';
import { silentLogger } from '../../hub/log.js';
import { FakeDigitalInput, FakeDigitalOutput, openGpioInput, openGpioOutput, type Bit } from '../../drivers/gpio.js';

void t.test('fake input: set() fires watchers synchronously on edges only', async (t) => {
  const input = new FakeDigitalInput();
  const seen: Bit[] = [];
  const off = input.watch((v) => seen.push(v));
  t.same(await input.read(), { ok: true, value: 0 });
  input.set(1);
  t.same(seen, [1], 'fired before set() returned');
  input.set(1);
  t.same(seen, [1], 'no edge, no event');
  input.set(0);
  t.same(seen, [1, 0]);
  t.same(await input.read(), { ok: true, value: 0 });
  off();
  input.set(1);
  t.same(seen, [1, 0], 'unsubscribed');
  t.throws(() => input.set(2 as Bit), RangeError);
});

void t.test('fake input: edge kinds', async (t) => {
  const rising = new FakeDigitalInput({ edge: 'rising' });
  const falling = new FakeDigitalInput({ edge: 'falling', initial: 1 });
  const r: Bit[] = [];
  const f: Bit[] = [];
  rising.watch((v) => r.push(v));
  falling.watch((v) => f.push(v));
  for (const v of [1, 0, 1, 0] as Bit[]) {
    rising.set(v);
    falling.set(v === 1 ? 0 : 1);
  }
  t.same(r, [1, 1]);
  t.same(f, [0, 0]);
});

void t.test('fake input: failures and close', async (t) => {
  const input = new FakeDigitalInput({ initial: 1 });
  input.setFailure({ kind: 'disconnected', message: 'cable cut' });
  t.same(await input.read(), { ok: false, error: { kind: 'disconnected', message: 'cable cut' } });
  input.setFailure(null);
  const seen: Bit[] = [];
  input.watch((v) => seen.push(v));
  await input.close();
  input.set(0);
  t.same(seen, [], 'a closed input fires nothing');
  t.equal(input.isClosed(), true);
  const r = await input.read();
  t.equal(!r.ok && r.error.kind, 'disconnected');
});

void t.test('fake output: writes, read back, forced value, failures', async (t) => {
  const out = new FakeDigitalOutput();
  const seen: Bit[] = [];
  out.watch((v) => seen.push(v));
  t.same(await out.write(1), { ok: true, value: undefined });
  t.same(await out.read(), { ok: true, value: 1 });
  t.ok((await out.write(1)).ok);
  t.same(out.writes(), [1, 1]);
  t.same(seen, [1], 'watchers see changes, not repeats');

  out.set(0);
  t.same(seen, [1, 0], 'forcing fires synchronously');
  t.ok((await out.write(1)).ok);
  t.same(await out.read(), { ok: true, value: 0 }, 'a forced output does not follow writes');
  out.set(null);
  t.same(await out.read(), { ok: true, value: 1 });

  const bad = await out.write(3 as Bit);
  t.equal(!bad.ok && bad.error.kind, 'invalid-argument');
  out.setFailure({ kind: 'timeout', message: 'stuck bus' });
  const failed = await out.write(0);
  t.equal(!failed.ok && failed.error.kind, 'timeout');
  t.same(out.writes(), [1, 1, 1], 'failed writes are not recorded');
  out.setFailure(null);
  await out.close();
  const closed = await out.write(0);
  t.equal(!closed.ok && closed.error.kind, 'disconnected');
});

void t.test('real GPIO on a machine without it: a failure Result, never a throw', async (t) => {
  if (existsSync('/sys/class/gpio/export')) {
    t.fail('this machine has sysfs GPIO; the test expects a machine without it');
    return;
  }
  const input = openGpioInput({ line: 17, edge: 'both', debounceMs: 10 }, silentLogger());
  t.same(input, { ok: false, error: { kind: 'disconnected', message: 'GPIO not accessible on this machine' } });
  const output = openGpioOutput({ line: 27, initial: 0 }, silentLogger());
  t.same(output, { ok: false, error: { kind: 'disconnected', message: 'GPIO not accessible on this machine' } });
});
