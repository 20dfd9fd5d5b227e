import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { PowerMachine, combineInputs, upsInput, type PowerInput, type Transition } from '../../hub/power/machine.js';
import type { UpsReading, UpsStatus } from '../../devices/ups-map.js';

const MAINS: PowerInput = { mains: true, level: 'ok', reason: 'mains' };
const BATTERY: PowerInput = { mains: false, level: 'ok', reason: 'battery' };
const LOW: PowerInput = { mains: false, level: 'low', reason: 'low' };
const CRITICAL: PowerInput = { mains: false, level: 'critical', reason: 'critical' };

function machine(rideThroughMs = 0, mainsStableMs = 1000) {
  const clock = new ManualClock();
  const seen: Transition[] = [];
  const m = new PowerMachine({ clock, rideThroughMs, mainsStableMs, onTransition: (x) => seen.push(x) });
  const path = () => seen.map((x) => `${x.from}>${x.to}`);
  return { clock, m, seen, path };
}

void t.test('every transition, in order, with mains stable before mains-ok', async (t) => {
  const { clock, m, path } = machine(0, 1000);
  m.update(null);
  t.equal(m.state(), 'unknown', 'nothing known yet');
  m.update(MAINS);
  m.update(BATTERY);
  m.update(LOW);
  m.update(CRITICAL);
  t.same(path(), ['unknown>mains-ok', 'mains-ok>on-battery', 'on-battery>low-battery', 'low-battery>critical']);
  m.update(LOW);
  t.equal(m.state(), 'critical', 'no de-escalation while on battery');
  m.update(MAINS);
  t.equal(m.state(), 'critical', 'mains must be stable first');
  t.same(m.pending()?.kind, 'mains-stable');
  clock.advance(500);
  m.update(BATTERY); // mains flickers away again
  clock.advance(1000);
  t.equal(m.state(), 'critical', 'the flicker restarted the wait');
  m.update(MAINS);
  clock.advance(999);
  t.equal(m.state(), 'critical');
  clock.advance(1);
  t.equal(m.state(), 'mains-ok');
  t.equal(path().at(-1), 'critical>mains-ok');
  t.equal(m.pending(), null);
});

void t.test('ride-through: a short dip is no outage, a long one is', async (t) => {
  const { clock, m, path } = machine(2000, 0);
  m.update(MAINS);
  m.update(BATTERY);
  t.equal(m.state(), 'mains-ok', 'riding through');
  t.equal(m.pending()?.kind, 'ride-through');
  clock.advance(1500);
  m.update(MAINS);
  clock.advance(5000);
  t.equal(m.state(), 'mains-ok', 'the dip was shorter than the ride-through');
  m.update(BATTERY);
  clock.advance(1000);
  m.update(LOW);
  clock.advance(1000);
  t.equal(m.state(), 'low-battery', 'after the ride-through, straight to the state the UPS reports now');
  m.update(MAINS);
  t.equal(m.state(), 'mains-ok', 'mainsStableMs 0: back at once');
  t.same(path(), ['unknown>mains-ok', 'mains-ok>low-battery', 'low-battery>mains-ok']);
});

void t.test('starting on battery goes straight to the reported state', async (t) => {
  const { m, path } = machine(5000, 1000);
  m.update(CRITICAL);
  t.same(path(), ['unknown>critical'], 'no ride-through from unknown');
  m.stop();
});

const reading = (r: Partial<UpsReading>): UpsReading => ({
  mainsPresent: true,
  onBattery: false,
  batteryLow: false,
  replaceBattery: null,
  overload: null,
  charging: null,
  bypass: null,
  fault: null,
  forcedShutdown: false,
  charge: 100,
  runtime: 3600,
  inputVoltage: null,
  outputVoltage: null,
  load: null,
  batteryTemperature: null,
  inputFrequency: null,
  ...r,
});
const status = (s: Partial<UpsStatus>): UpsStatus => ({ source: 'modbus', comm: 'ok', reading: null, readingAt: 0, lostOnBattery: false, lastError: null, misses: 0, ...s });
const th = { lowBattery: { chargePct: 30, runtimeS: 600 }, critical: { chargePct: 10, runtimeS: 180 } };

void t.test('UPS status to machine input: thresholds, flags, FSD, lost on battery', async (t) => {
  t.equal(upsInput('u', status({}), th), null, 'no reading yet');
  t.match(upsInput('u', status({ reading: reading({}) }), th), { mains: true, level: 'ok' });
  const ob = { mainsPresent: false, onBattery: true };
  t.match(upsInput('u', status({ reading: reading({ ...ob, charge: 80 }) }), th), { mains: false, level: 'ok' });
  t.match(upsInput('u', status({ reading: reading({ ...ob, charge: 30 }) }), th), { level: 'low' });
  t.match(upsInput('u', status({ reading: reading({ ...ob, runtime: 500 }) }), th), { level: 'low' });
  t.match(upsInput('u', status({ reading: reading({ ...ob, batteryLow: true }) }), th), { level: 'low' });
  t.match(upsInput('u', status({ reading: reading({ ...ob, charge: 9 }) }), th), { level: 'critical' });
  t.match(upsInput('u', status({ reading: reading({ ...ob, forcedShutdown: true }) }), th), { level: 'critical', reason: /FSD/ });
  t.match(upsInput('u', status({ reading: reading({ charge: 5 }) }), th), { mains: true, level: 'ok' }, 'a low battery on mains is no outage');
  t.match(upsInput('u', status({ comm: 'lost', lostOnBattery: true, reading: reading(ob) }), th), { mains: false, level: 'low', reason: /silent/ });
  t.equal(upsInput('u', status({ comm: 'lost', reading: reading({}) }), th), null, 'lost on mains: nothing usable, the last reading does not stand (issue 11, item 5)');
  t.equal(combineInputs([null, null]), null);
  t.match(combineInputs([MAINS, LOW, BATTERY]), { mains: false, level: 'low' }, 'worst wins');
  t.match(combineInputs([MAINS, null]), { mains: true });
});

void t.test('no usable input any more (the only UPS lost on mains): back to unknown, timers dropped', async (t) => {
  const { m, path } = machine(5000, 1000);
  m.update(MAINS);
  m.update(BATTERY);
  t.equal(m.pending()?.kind, 'ride-through');
  m.update(null, 'ups-1 not answering');
  t.equal(m.state(), 'unknown');
  t.equal(m.pending(), null, 'no ride-through left to fire on a guess');
  m.update(MAINS);
  t.same(path(), ['unknown>mains-ok', 'mains-ok>unknown', 'unknown>mains-ok']);
});
