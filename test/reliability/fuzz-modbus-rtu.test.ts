/**
 * fast-check over Modbus RTU framing, over a real pseudo-terminal (socat): the hub's RTU
 * line (one ModbusLine, shared by a UPS on unit 1 and a relay module on unit 2, as on one
 * RS-485 bus) talks to a hostile device on the pty's other end (test/helpers/hostile-rtu.ts)
 * that answers with wrong CRCs, the wrong unit, the wrong function, truncated frames,
 * bytes after the frame, exception responses, silence, answers that come too late, garbage
 * before or instead of the frame, and register words at every extreme.
 *
 * Properties: no crash, no unhandled rejection; a bad answer is never a reading (the UPS
 * keeps its last valid reading and counts a miss; a register image no UPS can give is
 * refused with an alarm); the UPS is unavailable after `missesBeforeLost` misses and back
 * with the next good frame, whose reading is exactly what the device holds (nothing left
 * over from a bad answer); a relay read-back that does not match raises the mismatch
 * alarm, a mangled one verifies nothing. `FH_PROPERTY_SEED` replays a run.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { ManualClock } from '../../kernel/clock.js';
import type { UpsDevice } from '../../devices/ups.js';
import type { RelayDevice } from '../../devices/relay.js';
import { DEFAULT_UPS_MAP, decodeRegisters, imageKey, type RegisterImage } from '../../devices/ups-map.js';
import { crc16, startHostileRtu, withCrc, type RtuFault } from '../helpers/hostile-rtu.js';
import { startPowerHub } from '../helpers/power-sims.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(240_000);

const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));
const seed = process.env.FH_PROPERTY_SEED ? { seed: Number(process.env.FH_PROPERTY_SEED) } : {};

/** Mains present, charge 100 %, 1800 s, 230.0 V in and out, load 20 %, 25.0 °C, 50.00 Hz. */
const GOOD_REGS = [0x0001, 100, 1800, 2300, 2300, 20, 250, 5000];
const TIMEOUT_MS = 150;
const dev = await startHostileRtu({ registers: GOOD_REGS, coils: 4 });
t.teardown(() => dev.stop());
const clock = new ManualClock();
const h = await startPowerHub(
  `
version: 1
site: { id: demo }
devices:
  - { id: ups-r, kind: ups, transport: { type: modbus-rtu, path: "${dev.path}", baudRate: 19200, unitId: 1, timeoutMs: ${TIMEOUT_MS} }, options: { pollMs: 60000, missesBeforeLost: 2 } }
  - id: relay-r
    kind: relay
    transport: { type: modbus-rtu, path: "${dev.path}", baudRate: 19200, unitId: 2, timeoutMs: ${TIMEOUT_MS} }
    options:
      coils: 4
      pollMs: 600000
      outputs:
        - { coil: 0, id: out-0, role: other }
        - { coil: 1, id: out-1, role: other }
`,
  clock,
);
t.teardown(() => h.stop());
const ups = h.hub.devices.get('ups-r') as UpsDevice;
const relay = h.hub.devices.get('relay-r') as RelayDevice;

const decode = (regs: number[]): ReturnType<typeof decodeRegisters> => {
  const image: RegisterImage = new Map();
  regs.forEach((w, i) => image.set(imageKey(3, i), w));
  return decodeRegisters(DEFAULT_UPS_MAP, image);
};
const goodReading = decode(GOOD_REGS);
if (!goodReading.ok) throw new Error('the good register image must decode');

/** The answer to a read of 8 registers with these words. */
const registersFrame = (regs: number[]): Buffer => withCrc([1, 3, regs.length * 2, ...regs.flatMap((w) => [(w >> 8) & 0xff, w & 0xff])]);
/** True when the bytes hold a CRC-valid answer of unit 1 / function 3 of this length starting before `before`. */
const holdsFrame = (bytes: Buffer, len: number, before = bytes.length): boolean => {
  for (let i = 0; i + len <= bytes.length && i < before; i++) if (bytes[i] === 1 && bytes[i + 1] === 3 && crc16(bytes.subarray(i, i + len - 2)) === bytes.readUInt16LE(i + len - 2)) return true;
  return false;
};

const word = fc.oneof(fc.constantFrom(0, 0xffff, 0x8000, 0x7fff, 0x8001, 1, 0x00ff, 0xff00), fc.integer({ min: 0, max: 0xffff }));
const junk = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b));

type Expect = 'good' | 'refused' | 'good-or-refused' | { registers: number[] };
interface Case {
  what: string;
  fault: RtuFault;
  expect: Expect;
  /** A late answer: wait for it to be written before the next request. */
  late?: boolean;
}
const c = (what: string, fault: RtuFault, expect: Expect, late = false): Case => ({ what, fault, expect, late });

const upsCase: fc.Arbitrary<Case> = fc.oneof(
  fc.constant(c('good', (g) => ({ bytes: g }), 'good')),
  { weight: 3, arbitrary: fc.array(word, { minLength: 8, maxLength: 8 }).map((regs) => c(`registers ${regs.map((w) => w.toString(16)).join(' ')}`, () => ({ bytes: registersFrame(regs) }), { registers: regs })) },
  fc.integer({ min: 0, max: 20 }).map((n) => c(`CRC flipped (${n})`, (g) => {
    const b = Buffer.from(g);
    b[b.length - 1 - (n % 2)]! ^= 1 << (n % 8);
    return { bytes: b };
  }, 'refused')),
  fc.integer({ min: 0, max: 247 }).filter((u) => u !== 1).map((u) => c(`unit ${u} answers`, (g) => ({ bytes: withCrc([u, ...g.subarray(1, -2)]) }), 'refused')),
  fc.constantFrom(1, 2, 4, 6, 16, 0x43).map((fn) => c(`function ${fn} in the answer`, (g) => ({ bytes: withCrc([1, fn, ...g.subarray(2, -2)]) }), 'refused')),
  fc.nat().map((n) => c(`truncated`, (g) => ({ bytes: g.subarray(0, n % g.length) }), 'refused')),
  junk.map((j) => c(`${j.length} bytes after the frame`, (g) => ({ bytes: Buffer.concat([g, j]) }), 'good')),
  fc.constantFrom(1, 3, 4, 6, 11, 0, 255).map((code) => c(`exception ${code}`, () => ({ bytes: withCrc([1, 0x83, code]) }), 'refused')),
  // Exception 2 (no such register) makes the source read the block register by register:
  // those reads get the device's real words, so the poll is read, with the right values.
  fc.constant(c('exception 2', () => ({ bytes: withCrc([1, 0x83, 2]) }), 'good')),
  fc.constant(c('silence', () => ({ bytes: Buffer.alloc(0) }), 'refused')),
  // Garbage that by chance holds a valid frame would be one: such draws are left out.
  junk.filter((j) => !holdsFrame(Buffer.concat([j, registersFrame(GOOD_REGS)]), 21, j.length)).map((j) => c(`${j.length} garbage bytes, then the frame`, (g) => ({ bytes: Buffer.concat([j, g]) }), 'good-or-refused')),
  fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.from(b)).filter((j) => !holdsFrame(j, 21)).map((j) => c(`${j.length} garbage bytes only`, () => ({ bytes: j }), 'refused')),
  fc.array(word, { minLength: 8, maxLength: 8 }).map((regs) => c('a valid answer, too late', () => ({ bytes: registersFrame(regs), delayMs: TIMEOUT_MS + 60 }), 'refused', true)),
);

const outageRows = (): number => h.hub.events.query({ type: 'power.state' }).filter((e) => e.data.to !== 'mains-ok' && e.data.to !== 'unknown').length;

function check(t: Test, what: string, conditions: Record<string, boolean>): boolean {
  const failed = Object.entries(conditions).filter(([, v]) => !v).map(([k]) => k);
  if (failed.length) t.comment(`${what}: failed ${failed.join(', ')}; ups ${JSON.stringify(ups.status())}`);
  return failed.length === 0;
}

async function step(): Promise<void> {
  clock.advance(20); // the line's reconnect backoff runs on the hub's clock
  await new Promise((r) => setTimeout(r, 5));
}

/** Polls until the armed fault was used; the UPS state just before that poll. */
async function pollWith(fault: RtuFault): Promise<ReturnType<UpsDevice['status']>> {
  for (let i = 0; i < 200; i++) {
    dev.arm(1, 3, fault);
    const before = ups.status();
    await ups.pollNow();
    if (dev.consumed()) return before;
    await step();
  }
  throw new Error('the hub never asked the UPS again');
}

/**
 * Until the late answer has been written and has crossed the pty. RTU cannot tell a late
 * answer that arrives after the next request from the answer to it (no transaction ids):
 * the hub discards what came before a request, and no master can do more.
 */
async function lateArrived(written: number): Promise<void> {
  await waitFor(() => dev.written() > written, 3000, 'the late answer written');
  await new Promise((r) => setTimeout(r, 100));
}

async function recover(): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    await ups.pollNow();
    if (ups.status().comm === 'ok' && ups.status().misses === 0) return true;
    await step();
  }
  return false;
}

const first = await recover();
const lines = h.hub.lines.modbusLines();
void t.test('setup', async (t) => {
  t.ok(first, 'the first reading over the pty');
  t.equal(lines, 1, 'one RTU line for both units');
});

void t.test('hostile RTU answers to the UPS: refused or exactly right, unavailable and back', async (t) => {
  const counts = { accepted: 0, refused: 0, lost: 0 };
  const alarms: string[] = [];
  h.hub.bus.on('test', 'alarm.raised', (a) => void alarms.push(a.id));
  await fc.assert(
    fc.asyncProperty(fc.array(upsCase, { minLength: 1, maxLength: 3 }), async (cases) => {
      for (const k of cases) {
        let expect = k.expect;
        if (typeof expect === 'object') {
          const want = decode(expect.registers);
          // A consistent on-battery image is a real outage as far as anyone can tell (fuzz-modbus.test.ts does the same).
          fc.pre(!(want.ok && !(want.reading.mainsPresent && !want.reading.onBattery)));
        }
        alarms.length = 0;
        const written = dev.written();
        const before = await pollWith(k.fault);
        if (k.late) await lateArrived(written);
        const s = ups.status();
        let accepted: boolean;
        let reading: unknown = goodReading.reading;
        if (typeof expect === 'object') {
          const want = decode(expect.registers);
          accepted = want.ok;
          if (want.ok) reading = want.reading;
          expect = want.ok ? 'good' : 'refused';
          // Raised once while it lasts: by this answer, or by an earlier one of this run.
          const alarmed = alarms.includes('ups-invalid-data:ups-r') || (before.lastError !== null && h.hub.alarms.list().some((a) => a.id === 'ups-invalid-data:ups-r'));
          if (!want.ok && !check(t, k.what, { 'refused with an alarm': alarmed })) return false;
        } else accepted = expect === 'good' || (expect === 'good-or-refused' && s.misses === 0);
        const ok = accepted
          ? check(t, k.what, { 'read': s.comm === 'ok' && s.misses === 0, 'exactly the reading': JSON.stringify(s.reading) === JSON.stringify(reading) })
          : check(t, k.what, {
              'a miss': s.misses === before.misses + 1 && s.lastError !== null,
              'the last valid reading kept': JSON.stringify(s.reading) === JSON.stringify(before.reading),
              'lost after 2 misses': (s.comm === 'lost') === (before.comm === 'lost' || before.misses + 1 >= 2),
              'unavailable once lost': s.comm !== 'lost' || !h.hub.availability.isAvailable('ups-r'),
            });
        if (!ok) return false;
        if (accepted) counts.accepted++;
        else {
          counts.refused++;
          if (s.comm === 'lost') counts.lost++;
        }
        if (outageRows() !== 0) return check(t, k.what, { 'no outage': false });
      }
      // The next good frame: read at once, and exactly what the device holds (nothing left over).
      if (!(await recover())) return check(t, 'recovery', { 'read again': false });
      return check(t, 'recovery', {
        'the device reading, not a stale one': JSON.stringify(ups.status().reading) === JSON.stringify(goodReading.reading),
        'available again': h.hub.availability.isAvailable('ups-r'),
        'power mains-ok': h.power.snapshot().state === 'mains-ok',
      });
    }),
    { numRuns: 40, ...seed },
  );
  h.hub.bus.removeOwner('test');
  t.comment(`accepted ${counts.accepted}, refused ${counts.refused}, lost ${counts.lost} times`);
  t.ok(counts.refused > 0 && counts.accepted > 0, 'both kinds were tried');
  t.ok(counts.lost > 0, 'the UPS went unavailable and came back');
  t.same(unhandled, [], 'no unhandled rejection');
});

type Readback = 'good' | 'inverted' | 'bad-crc' | 'truncated' | 'exception' | 'silence' | 'other-unit';
/** A fault in the answer to function 1 (the read-back) or 5 (the write: `inverted` echoes the other value). */
const readbackFault = (kind: Readback, fn: 1 | 5): RtuFault => (g) => {
  switch (kind) {
    case 'good':
      return { bytes: g };
    case 'inverted':
      return { bytes: fn === 1 ? withCrc([2, 1, 1, g[3]! ^ 0x0f]) : withCrc([2, 5, g[2]!, g[3]!, g[4]! ^ 0xff, 0]) };
    case 'bad-crc':
      return { bytes: Buffer.concat([g.subarray(0, -1), Buffer.from([g.at(-1)! ^ 0x55])]) };
    case 'truncated':
      return { bytes: g.subarray(0, 3) };
    case 'exception':
      return { bytes: withCrc([2, 0x80 | fn, 4]) };
    case 'silence':
      return { bytes: Buffer.alloc(0) };
    case 'other-unit':
      return { bytes: withCrc([3, ...g.subarray(1, -2)]) };
  }
};

void t.test('relay writes and read-backs over RTU: a mismatch raises the alarm, a mangled answer verifies nothing', async (t) => {
  const mismatch = (id: string): boolean => h.hub.alarms.list().some((a) => a.id === `relay-mismatch:relay-r:${id}`);
  const kinds = fc.constantFrom<Readback>('good', 'inverted', 'bad-crc', 'truncated', 'exception', 'silence', 'other-unit');
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('out-0', 'out-1'), fc.boolean(), fc.constantFrom<1 | 5>(1, 1, 5), kinds, async (out, on, fn, kind) => {
      const coil = out === 'out-0' ? 0 : 1;
      const before = relay.output(out)!;
      dev.arm(2, fn, readbackFault(kind, fn));
      const r = await relay.setOutput(out, on, 'test:fuzz');
      const view = relay.output(out)!;
      const what = `function ${fn} ${kind}`;
      let ok: boolean;
      if (!dev.consumed()) ok = check(t, `${what}: not sent`, { 'not verified': !r.ok });
      else if (kind === 'good' || (fn === 5 && kind === 'inverted')) {
        // A wrong echo of a write is not checked by itself: the read-back after it tells the truth.
        ok = check(t, what, { 'verified by the read-back': r.ok && view.verified && view.actual === on, 'no mismatch alarm': !mismatch(out) });
      } else if (fn === 1 && kind === 'inverted') ok = check(t, what, { 'a mismatch': !r.ok && r.reason === 'mismatch' && view.actual === !on && !view.verified, 'the alarm': mismatch(out) });
      else ok = check(t, what, { 'failed': !r.ok && r.reason === (fn === 5 ? 'write-failed' : 'readback-failed'), 'actual not taken from it': view.actual === before.actual, 'commanded kept': view.commanded === on });
      if (!ok) return false;
      // The device did switch the coil (only its answer was mangled): the next good read-back says so and clears the alarm.
      await relay.refresh();
      const after = relay.output(out)!;
      return check(t, `${what}, refresh`, { 'device followed the write': dev.coils[coil] === on, 'verified': after.verified && after.actual === on, 'alarm cleared': !mismatch(out) });
    }),
    { numRuns: 40, ...seed },
  );
  t.ok(h.hub.availability.isAvailable('relay-r'), 'the module is available');
  t.same(unhandled, [], 'no unhandled rejection');
});

void t.test('regression: an answer that came too late is not read as the next one', async (t) => {
  // modbus-serial's RTU port kept the late frame (charge 55 %) and handed it to the next
  // request as its answer; every reading after that was one request old.
  t.ok(await recover());
  const late = [0x0001, 55, 600, 2300, 2300, 20, 250, 5000];
  const written = dev.written();
  await pollWith(() => ({ bytes: registersFrame(late), delayMs: TIMEOUT_MS + 60 }));
  await lateArrived(written);
  t.match(ups.status(), { misses: 1 }, 'the request it belonged to timed out');
  await ups.pollNow();
  t.match(ups.status(), { comm: 'ok', misses: 0, reading: { charge: 100, runtime: 1800 } }, 'the next request reads what the device holds now');
  // The same for the rest of a frame with bytes after it, or of a truncated one.
  await pollWith((g) => ({ bytes: Buffer.concat([g, registersFrame(late)]) }));
  await ups.pollNow();
  t.match(ups.status(), { misses: 0, reading: { charge: 100 } }, 'bytes after a frame are not the next answer');
});
