/**
 * fast-check over what a hostile upsd answers to `LIST VAR`: unknown `ERR` codes, lines
 * without their newline, huge lines (1 MB, and over-long lines that arrive whole), NUL
 * bytes and invalid UTF-8, wrong UPS and variable names, numbers out of range or not
 * decimal, `END LIST` missing, the connection closed mid-answer, answers written byte by
 * byte. A real TCP server on port 0 (test/helpers/hostile-nut.ts) and a hub with the power
 * feature and a NUT UPS.
 *
 * Properties: no crash and no unhandled rejection; a bad answer is never a reading (the
 * last valid reading stays, the miss is counted, mains does not flip, no outage stage
 * runs); after `missesBeforeLost` bad answers the UPS is unavailable, and it is available
 * again with the next good answer; an endless line is cut off (the client closes the
 * connection) rather than buffered. `FH_PROPERTY_SEED` replays a run.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { ManualClock } from '../../kernel/clock.js';
import type { UpsDevice } from '../../devices/ups.js';
import { NUT_DEFAULTS } from '../../drivers/nut.js';
import { UPS_LIMITS } from '../../devices/ups-map.js';
import { startHostileNut, type HostileAnswer } from '../helpers/hostile-nut.js';
import { startPowerHub } from '../helpers/power-sims.js';

t.setTimeout(240_000);

const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));
const seed = process.env.FH_PROPERTY_SEED ? { seed: Number(process.env.FH_PROPERTY_SEED) } : {};

const UPS = 'rack';
const GOOD: Record<string, string> = { 'ups.status': 'OL', 'battery.charge': '100', 'battery.runtime': '1800', 'input.voltage': '230.0', 'ups.load': '20' };
const nut = await startHostileNut(UPS, GOOD);
t.teardown(() => nut.stop());
const clock = new ManualClock();
const h = await startPowerHub(
  `
version: 1
site: { id: demo }
devices:
  - { id: ups-n, kind: ups, transport: { type: nut, host: 127.0.0.1, port: ${nut.port}, ups: ${UPS} }, options: { pollMs: 60000, missesBeforeLost: 2 } }
`,
  clock,
);
t.teardown(() => h.stop());
const ups = h.hub.devices.get('ups-n') as UpsDevice;

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const lines = (vars: [string, string][], ups = UPS): string[] => [`BEGIN LIST VAR ${ups}`, ...vars.map(([k, v]) => `VAR ${ups} ${k} "${v}"`), `END LIST VAR ${ups}`];
const answerOf = (ls: string[], eol = '\n'): Buffer => B(ls.map((l) => l + eol).join(''));
const goodVars = Object.entries(GOOD);

interface Case {
  what: string;
  answer: HostileAnswer;
  /** A well-formed answer with a plausible, on-mains reading: the only kind the hub may take. */
  accept: boolean;
}
const refuse = (what: string, pieces: Buffer[], extra: Partial<HostileAnswer> = {}): Case => ({ what, answer: { pieces, ...extra }, accept: false });
const once = (b: Buffer): Buffer[] => [b];

const errCode = fc.oneof(
  fc.constantFrom('ACCESS-DENIED', 'UNKNOWN-UPS', 'VAR-NOT-SUPPORTED', 'DATA-STALE', 'DRIVER-NOT-CONNECTED', 'UNKNOWN-COMMAND', 'FEATURE-NOT-CONFIGURED', ''),
  fc.stringMatching(/^[A-Z][A-Z-]{0,30}$/),
);
const varName = fc.stringMatching(/^[a-z]{1,8}(\.[a-z]{1,8}){1,2}$/).filter((n) => !(n in GOOD) && !['battery.temperature', 'input.frequency', 'output.voltage'].includes(n));
/** Values that are no upsd number. */
const notANumber = fc.constantFrom('', 'lots', '0x61', '1e2', ' 97', '97 ', 'Infinity', 'NaN', '97%', '9 7', '9,7', '+', '.5', '1.', '--1', '٩٧');
/** NUT variable → the reading field whose plausible range it must keep to. */
const NUMBERS: [string, keyof typeof UPS_LIMITS][] = [
  ['battery.charge', 'charge'],
  ['battery.runtime', 'runtime'],
  ['input.voltage', 'inputVoltage'],
  ['ups.load', 'load'],
  ['battery.temperature', 'batteryTemperature'],
  ['input.frequency', 'inputFrequency'],
];
const badNumber = (field: keyof typeof UPS_LIMITS): fc.Arbitrary<string> => {
  const [lo, hi] = UPS_LIMITS[field];
  return fc.oneof(notANumber, fc.integer({ min: 1, max: 1e9 }).map((d) => String(hi + d)), fc.integer({ min: 1, max: 1e9 }).map((d) => String(lo - d)), fc.constant(`${hi}.01`));
};
const badStatus = fc.constantFrom('', 'OL OB', 'WAIT', 'OFF', 'ol', 'OL ?', 'OL ok', 'OL 1', 'OLOB', 'OL\u00e9', 'OB OL LB', 'O L');
/** Bytes that are no text: NUL, control characters, invalid UTF-8. */
const badBytes = fc.constantFrom([0x00], [0x01], [0x1b], [0x7f], [0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0x0d], [0xfe, 0xfe, 0xff]);

const goodCase: fc.Arbitrary<Case> = fc.oneof(
  fc.constant({ what: 'good', answer: { pieces: once(answerOf(lines(goodVars))) }, accept: true }),
  fc.constant({ what: 'good, CRLF', answer: { pieces: once(answerOf(lines(goodVars), '\r\n')) }, accept: true }),
  fc.array(fc.tuple(varName, fc.stringMatching(/^[ -!#-[\]-~]{0,30}$/)), { maxLength: 5 }).map((extra) => ({ what: 'good, unknown variables', answer: { pieces: once(answerOf(lines([...goodVars, ...extra.filter(([n], i) => extra.findIndex(([m]) => m === n) === i)]))) }, accept: true })),
  fc
    .record({ charge: fc.constantFrom('0', '100', '50.5'), runtime: fc.constantFrom('0', '604800'), voltage: fc.constantFrom('0', '500', '229.9'), load: fc.constantFrom('0', '250'), temp: fc.constantFrom('-40', '100', '-5.2'), freq: fc.constantFrom('0', '100', '49.98') })
    .map((v) => ({
      what: 'good, values at the limits',
      answer: { pieces: once(answerOf(lines([['ups.status', 'OL CHRG'], ['battery.charge', v.charge], ['battery.runtime', v.runtime], ['input.voltage', v.voltage], ['ups.load', v.load], ['battery.temperature', v.temp], ['input.frequency', v.freq]]))) },
      accept: true,
    })),
  fc.constant({ what: 'good, byte by byte', answer: { pieces: [...answerOf(lines(goodVars))].map((b) => Buffer.from([b])), gapMs: 1 }, accept: true }),
);

const good = answerOf(lines(goodVars));
const badCase: fc.Arbitrary<Case> = fc.oneof(
  errCode.map((c) => refuse(`ERR ${c}`, once(B(`ERR ${c}\n`)))),
  fc.tuple(errCode, fc.nat({ max: goodVars.length })).map(([c, n]) => refuse(`ERR ${c} inside the list`, once(B(lines(goodVars.slice(0, n)).slice(0, -1).map((l) => `${l}\n`).join('') + `ERR ${c}\n`)))),
  fc.constant(refuse('no final newline, then closed', once(good.subarray(0, -1)), { then: 'close' })),
  fc.constant(refuse('huge line (1 MB)', [B(`BEGIN LIST VAR ${UPS}\nVAR ${UPS} ups.status "OL`), Buffer.alloc(1024 * 1024, 0x20), B(`"\nEND LIST VAR ${UPS}\n`)])),
  fc.integer({ min: NUT_DEFAULTS.maxLineLength + 1, max: 30_000 }).map((n) => refuse(`a whole line of ${n} characters`, once(answerOf(lines([['ups.status', 'OL'], ['battery.charge', `${'0'.repeat(n)}97`]]))))),
  fc
    .tuple(badBytes, fc.nat())
    .map(([bytes, at]) => ({ bytes, cut: at % (good.length - 1) }))
    // A CR right before a newline is a CRLF line end, which upsd may send.
    .filter(({ bytes, cut }) => !(bytes.length === 1 && bytes[0] === 0x0d && good[cut] === 0x0a))
    .map(({ bytes, cut }) => refuse(`bytes ${bytes.join(',')} at ${cut}`, once(Buffer.concat([good.subarray(0, cut), Buffer.from(bytes), good.subarray(cut)])))),
  fc.constantFrom('other', 'RACK', 'rack2', '').map((u) => refuse(`answer for UPS "${u}"`, once(answerOf(lines(goodVars, u))))),
  fc.constantFrom('BEGIN', 'VAR', 'END').map((which) => refuse(`UPS name wrong in ${which}`, once(answerOf(lines(goodVars).map((l) => (l.startsWith(which) ? l.replace(` ${UPS}`, ' other') : l)))))),
  fc.constantFrom(...NUMBERS).chain(([name, field]) => badNumber(field).map((v) => [name, v] as const)).map(([name, v]) => refuse(`${name} = ${JSON.stringify(v)}`, once(answerOf(lines([...goodVars.filter(([k]) => k !== name), [name, v]]))))),
  badStatus.map((s) => refuse(`ups.status = ${JSON.stringify(s)}`, once(answerOf(lines([['ups.status', s], ...goodVars.slice(1)]))))),
  fc.constant(refuse('END LIST missing, then closed', once(answerOf(lines(goodVars).slice(0, -1))), { then: 'close' })),
  fc.nat().map((at) => refuse(`closed after ${at % (good.length - 1)} bytes`, once(good.subarray(0, at % (good.length - 1))), { then: 'close' })),
  fc.constant(refuse('ups.status listed twice (OL, then OB)', once(answerOf(lines([...goodVars, ['ups.status', 'OB']]))))),
  fc.array(fc.stringMatching(/^[ -~]{1,40}$/), { minLength: 1, maxLength: 3 }).map((junk) => refuse('junk lines before BEGIN', once(answerOf([...junk, ...lines(goodVars)])))),
  fc.constant(refuse('ups.status missing', once(answerOf(lines(goodVars.slice(1)))))),
  fc.constant(refuse('a bad answer, byte by byte', [...answerOf(lines([['ups.status', 'OL OB']]))].map((b) => Buffer.from([b])), { gapMs: 1 })),
);
/** Costs a request timeout (2 s) each: rare. */
const silentCase: fc.Arbitrary<Case> = fc.constantFrom(refuse('silence', []), refuse('no final newline, kept open', once(good.subarray(0, -1))), refuse('END LIST missing, kept open', once(answerOf(lines(goodVars).slice(0, -1)))));

// A counterexample prints as what it is, not as kilobytes of Buffer.
const anyCase = fc
  .oneof({ weight: 3, arbitrary: goodCase }, { weight: 12, arbitrary: badCase }, { weight: 1, arbitrary: silentCase })
  .map((c) => Object.assign(c, { [fc.toStringMethod]: () => JSON.stringify(c.what) }));

const outageRows = (): number => h.hub.events.query({ type: 'power.state' }).filter((e) => e.data.to !== 'mains-ok' && e.data.to !== 'unknown').length;

async function step(): Promise<void> {
  clock.advance(20); // the client's reconnect backoff (20..100 ms here) runs on the hub's clock
  await new Promise((r) => setTimeout(r, 5));
}

/** Polls until the armed answer was the one read; the state just before that poll. */
async function pollWith(a: HostileAnswer): Promise<ReturnType<UpsDevice['status']>> {
  for (let i = 0; i < 400; i++) {
    const n = nut.listVarCount();
    nut.armNext(a);
    const before = ups.status();
    await ups.pollNow();
    if (nut.listVarCount() > n) return before;
    await step();
  }
  throw new Error('the hub never asked upsd again');
}

/** Good answers until the UPS is read again (the client reconnects on its own). */
async function recover(): Promise<boolean> {
  for (let i = 0; i < 400; i++) {
    await ups.pollNow();
    if (ups.status().comm === 'ok' && ups.status().misses === 0) return true;
    await step();
  }
  return false;
}

function check(t: Test, what: string, conditions: Record<string, boolean>): boolean {
  const failed = Object.entries(conditions).filter(([, v]) => !v).map(([k]) => k);
  if (failed.length) t.comment(`${what}: failed ${failed.join(', ')}; status ${JSON.stringify(ups.status())}; power ${h.power.snapshot().state}`);
  return failed.length === 0;
}

t.ok(await recover(), 'the first reading');
const valid = ups.status().reading;

void t.test('hostile LIST VAR answers: refused or valid, never a flip of mains, unavailable and back', async (t) => {
  const counts = { accepted: 0, refused: 0, lost: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(anyCase, { minLength: 1, maxLength: 3 }), async (cases) => {
      for (const c of cases) {
        const before = await pollWith(c.answer);
        const s = ups.status();
        const ok = c.accept
          ? check(t, c.what, { 'accepted': s.comm === 'ok' && s.misses === 0, 'on mains': s.reading?.mainsPresent === true && s.reading.onBattery === false, 'power mains-ok': h.power.snapshot().state === 'mains-ok' })
          : check(t, c.what, {
              'a miss': s.misses === before.misses + 1 && s.lastError !== null,
              'the last valid reading kept': JSON.stringify(s.reading) === JSON.stringify(before.reading),
              'lost after 2 misses': (s.comm === 'lost') === (before.comm === 'lost' || before.misses + 1 >= 2),
              'unavailable once lost': s.comm !== 'lost' || !h.hub.availability.isAvailable('ups-n'),
            });
        if (!ok) return false;
        if (c.accept) counts.accepted++;
        else {
          counts.refused++;
          if (s.comm === 'lost') counts.lost++;
        }
        if (outageRows() !== 0 || !['mains-ok', 'unknown'].includes(h.power.snapshot().state)) return check(t, c.what, { 'no outage': false });
      }
      if (!(await recover())) return check(t, 'recovery', { 'read again': false });
      return check(t, 'recovery', { 'available again': h.hub.availability.isAvailable('ups-n'), 'power mains-ok': h.power.snapshot().state === 'mains-ok', 'no outage': outageRows() === 0 });
    }),
    { numRuns: 45, ...seed },
  );
  t.comment(`accepted ${counts.accepted}, refused ${counts.refused}, lost ${counts.lost} times`);
  t.ok(counts.refused > counts.accepted && counts.accepted > 0, 'both kinds were tried');
  t.ok(counts.lost > 0, 'the UPS went unavailable and came back');
  t.same(unhandled, [], 'no unhandled rejection');
});

void t.test('an endless line is cut off, not buffered', async (t) => {
  const cap = 64 * 1024 * 1024;
  const written = nut.armEndless(cap);
  const before = ups.status();
  await ups.pollNow();
  const n = await written;
  t.ok(n < cap, `the client closed the connection after ${(n / 1024 / 1024).toFixed(1)} MiB (of ${cap / 1024 / 1024} MiB offered)`);
  t.match(ups.status(), { misses: before.misses + 1, lastError: /line too long|longer than/ });
  t.same(ups.status().reading, before.reading);
  t.ok(await recover(), 'read again afterwards');
});

void t.test('regressions', async (t) => {
  const cases: [string, Buffer][] = [
    // A line over the cap that arrived whole (one chunk, newline included) skipped the cap: its value was read (97 %).
    ['a 20,000-character line in one chunk', answerOf(lines([['ups.status', 'OL'], ['battery.charge', `${'0'.repeat(20_000)}97`]]))],
    // Number() read hexadecimal and exponents: "0x61" was a charge of 97 %.
    ['battery.charge "0x61"', answerOf(lines([['ups.status', 'OL'], ['battery.charge', '0x61']]))],
    // The last of two values for one name won: OL then OB read as on battery.
    ['ups.status twice', answerOf(lines([['ups.status', 'OL'], ['ups.status', 'OB']]))],
    // A NUL or invalid UTF-8 in a variable's name only made the variable unknown: the rest was read.
    ['a NUL in a name', answerOf(lines([['ups.status', 'OL'], ['battery.ch\u0000arge', '5']]))],
    // A garbage token beside OL was ignored.
    ['ups.status "OL \\ufffd"', Buffer.concat([B(`BEGIN LIST VAR ${UPS}\nVAR ${UPS} ups.status "OL `), Buffer.from([0xff]), B(`"\nEND LIST VAR ${UPS}\n`)])],
  ];
  for (const [what, bytes] of cases) {
    t.ok(await recover(), `${what}: read before`);
    const before = await pollWith({ pieces: [bytes] });
    t.match(ups.status(), { misses: before.misses + 1, reading: before.reading }, `${what}: refused`);
  }
  // Garbage left after a complete answer (no newline) was glued to the next answer's first line.
  t.ok(await recover());
  await pollWith({ pieces: [Buffer.concat([good, B('\u0000junk')])] });
  t.match(ups.status(), { comm: 'ok', misses: 0 }, 'the answer before the junk is read');
  await ups.pollNow();
  t.match(ups.status(), { comm: 'ok', misses: 0 }, 'and the next answer is not spoilt by it');
  t.same(ups.status().reading, valid, 'the reading is the good one');
});

void t.test('hostile answers to USERNAME, PASSWORD and LOGIN are never taken for OK', async (t) => {
  const upsd = await startHostileNut(UPS, GOOD);
  t.teardown(() => upsd.stop());
  process.env.FH_TEST_NUT_FUZZ_PW = 'fuzz-pw';
  t.teardown(() => void delete process.env.FH_TEST_NUT_FUZZ_PW);
  const clock2 = new ManualClock();
  const h2 = await startPowerHub(
    `
version: 1
site: { id: demo }
devices:
  - { id: ups-l, kind: ups, transport: { type: nut, host: 127.0.0.1, port: ${upsd.port}, ups: ${UPS}, username: monitor, passwordEnv: FH_TEST_NUT_FUZZ_PW }, options: { pollMs: 60000, missesBeforeLost: 2 } }
`,
    clock2,
  );
  t.teardown(() => h2.stop());
  const ups2 = h2.hub.devices.get('ups-l') as UpsDevice;
  const read = async (): Promise<boolean> => {
    for (let i = 0; i < 400; i++) {
      await ups2.pollNow();
      if (ups2.status().comm === 'ok' && ups2.status().misses === 0) return true;
      clock2.advance(20);
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  };
  t.ok(await read(), 'logged in and read');
  const la = (what: string, answer: HostileAnswer): { what: string; answer: HostileAnswer } => ({ what, answer });
  const badLogin = fc.oneof(
    errCode.map((c) => la(`ERR ${c}`, { pieces: [B(`ERR ${c}\n`)] })),
    fc.constantFrom('ok', 'OKAY', 'O K', 'OK junk', 'OK Goodbye', '', 'ERR', 'BEGIN LIST VAR rack').map((l) => la(JSON.stringify(l), { pieces: [B(`${l}\n`)] })),
    fc.constant(la('OK without its newline, then closed', { pieces: [B('OK')], then: 'close' })),
    fc.constant(la('closed at once', { pieces: [], then: 'close' })),
    fc
      .tuple(badBytes, fc.nat({ max: 2 }))
      // A CR right before the newline is a CRLF line end: that OK is an OK.
      .filter(([bytes, at]) => !(bytes.length === 1 && bytes[0] === 0x0d && at === 2))
      .map(([bytes, at]) => la(`bytes ${bytes.join(',')} at ${at} in OK`, { pieces: [Buffer.concat([B('OK'.slice(0, at)), Buffer.from(bytes), B(`${'OK'.slice(at)}\n`)])] })),
    fc.constant(la('a 1 MB line', { pieces: [B('OK '), Buffer.alloc(1024 * 1024, 0x41), B('\n')] })),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('USERNAME' as const, 'PASSWORD' as const, 'LOGIN' as const), badLogin, async (step, bad) => {
      upsd.armLogin(step, bad.answer);
      upsd.dropConnections();
      for (let i = 0; i < 400 && !upsd.loginFaultUsed(); i++) {
        await ups2.pollNow();
        clock2.advance(20);
        await new Promise((r) => setTimeout(r, 5));
      }
      const used = upsd.loginFaultUsed();
      const recovered = await read();
      return check(t, `${step}: ${bad.what}`, { 'the fault was met': used, 'never taken for OK': upsd.listsAfterBadLogin() === 0, 'logged in again once upsd behaves': recovered, 'the good reading': JSON.stringify(ups2.status().reading) === JSON.stringify(valid) });
    }),
    { numRuns: 15, ...seed },
  );
  t.same(h2.hub.events.query({ type: 'power.state' }).filter((e) => e.data.to !== 'mains-ok' && e.data.to !== 'unknown'), [], 'no outage');
  t.same(unhandled, [], 'no unhandled rejection');
});
