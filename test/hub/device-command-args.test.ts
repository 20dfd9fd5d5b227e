/**
 * Device-command argument errors (issue #11, item 11): an unknown relay output, `"on":
 * "yes"`, parking the robot with arguments are the caller's mistakes: 400 naming the field,
 * nothing sent to the device and nothing in the command ledger (not 502 "device refused").
 * Over HTTP (inject) against a hub whose relay module is a real Modbus TCP simulator.
 */
import t from 'tap';
import { advanceUntil, startPowerRig } from '../helpers/power-sims.js';
import { commandArgProblems } from '../../hub/api/command-args.js';
import { facility } from '../helpers/hub.js';

interface Problem {
  field: string;
  message: string;
}

void t.test('wrong command arguments are 400 naming the field; right ones reach the relay', async (t) => {
  const r = await startPowerRig({ devices: '  - { id: robot-1, kind: robot, transport: { type: mqtt }, rooms: [room-1] }\n' });
  t.teardown(() => r.stop());
  await advanceUntil(r.clock, () => r.hub.availability.isAvailable('relay-1'), 'relay-1 available');
  const token = await r.login();
  const api = r.hub.api();
  const send = (device: string, payload: object) => api.inject({ method: 'POST', url: `/api/devices/${device}/commands`, headers: { authorization: `Bearer ${token}` }, payload });
  const ledger = (): number => r.hub.events.query({ type: 'command.sent' }).length + r.hub.events.query({ type: 'command.finished' }).length;
  const before = ledger();

  const cases: { what: string; device: string; payload: object; fields: string[]; message: RegExp }[] = [
    { what: 'an unknown relay output', device: 'relay-1', payload: { cmd: 'set', args: { output: 'jammer-room-9', on: true } }, fields: ['body.args.output'], message: /must be an output of relay-1 \(jammer-room-1, jammer-room-2\), found "jammer-room-9"/ },
    { what: '"on": "yes"', device: 'relay-1', payload: { cmd: 'set', args: { output: 'jammer-room-1', on: 'yes' } }, fields: ['body.args.on'], message: /must be true or false, found "yes"/ },
    { what: 'both at once, and an extra argument', device: 'relay-1', payload: { cmd: 'set', args: { on: 1, force: true } }, fields: ['body.args.force', 'body.args.output', 'body.args.on'], message: /force.*not an argument of set/ },
    { what: 'refresh with arguments', device: 'relay-1', payload: { cmd: 'refresh', args: { now: true } }, fields: ['body.args.now'], message: /takes no arguments/ },
    { what: 'parking the robot with arguments', device: 'robot-1', payload: { cmd: 'park', args: { now: true } }, fields: ['body.args.now'], message: /takes no arguments/ },
    { what: 'a door command with arguments', device: 'host-2', payload: { cmd: 'open', args: { wide: true } }, fields: ['body.args.wide'], message: /takes no arguments/ },
  ];
  for (const c of cases) {
    const res = await send(c.device, c.payload);
    t.equal(res.statusCode, 400, `${c.what}: 400, not 502`);
    const body = res.json<{ code: string; message: string; details: { field: string; problems: Problem[] } }>();
    t.equal(body.code, 'HUB_ERR_VALIDATION', `${c.what}: code`);
    t.same(body.details.problems.map((p) => p.field), c.fields, `${c.what}: the fields`);
    t.equal(body.details.field, c.fields[0], `${c.what}: details.field`);
    t.match(body.message, c.message, `${c.what}: ${body.message}`);
  }
  t.equal(ledger(), before, 'nothing was sent or recorded for a bad argument');
  t.same(r.jammers.coils(), [false, false, false, false], 'the relay did not move');

  const ok = await send('relay-1', { cmd: 'set', args: { output: 'jammer-room-2', on: true } });
  t.equal(ok.statusCode, 200, ok.body);
  t.match(ok.json(), { ok: true, outcome: 'acked' });
  t.same(r.jammers.coils(), [false, true, false, false], 'written and read back over Modbus');
  t.ok(ledger() > before, 'a valid command is in the ledger');
});

void t.test('broadcast command arguments follow the controller rules (demo facility)', async (t) => {
  const demo = facility();
  const pa = demo.devices.find((d) => d.id === 'pa-1')!;
  const fields = (cmd: string, args: Record<string, unknown>): string[] => commandArgProblems(demo, pa, cmd, args).map((p) => p.field);
  t.same(fields('play', { room: 'room-1', message: 1 }), []);
  t.same(fields('play', { room: 'room-9', message: 1 }), ['body.args.room']);
  t.same(fields('play', { zones: [1, 7], message: 'one' }), ['body.args.zones', 'body.args.message']);
  t.same(fields('tts', { room: 'room-2', text: '  ' }), ['body.args.text']);
  t.same(fields('tts', { room: 'room-2', text: '请安静', repeat: 11 }), ['body.args.repeat']);
  t.same(fields('stop', { zones: 'all' }), []);
  t.same(fields('chime', { zones: 'all' }), ['body.args.zones'], '"all" is for stop only');
  t.same(fields('chime', {}), ['body.args.room'], 'a target is required');
  t.same(fields('status', { room: 'room-1' }), ['body.args.room'], 'status takes no arguments');
  t.same(fields('play', { room: 'room-1', message: 1, volume: 3 }), ['body.args.volume']);
});
