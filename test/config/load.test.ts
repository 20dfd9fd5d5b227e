import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_FACILITY, formatConfigError, loadFacility, parseFacility, type ConfigError } from '../../config/load.js';
import { tempDir } from '../helpers/hub.js';

const FILE = 'facility.yaml';

/** Nine fixed lines; devices appended from line 10 on, one per line. */
const BASE = `version: 1
site: { id: t }
zones:
  - { id: eval }
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: eval, seats: 4 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt } }
`;
const FIRST_EXTRA_LINE = 10;

function withDevices(...lines: string[]): string {
  return BASE + lines.map((l) => `  - ${l}\n`).join('');
}

function errorsOf(yaml: string): ConfigError[] {
  const r = parseFacility(yaml, FILE);
  if (r.ok) return [];
  return r.errors;
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

/** Asserts one error at `path` carrying file, line, found and expected. */
function hasError(t: Tap, errors: ConfigError[], path: string, want: { line?: number; found?: RegExp; expected?: RegExp }): void {
  const e = errors.find((x) => x.path === path);
  if (!e) {
    t.fail(`an error at ${path}`, { found: errors.map((x) => x.path) });
    return;
  }
  t.equal(e.file, FILE, `${path}: file`);
  t.type(e.line, 'number', `${path}: line`);
  if (want.line !== undefined) t.equal(e.line, want.line, `${path}: line ${want.line}`);
  t.ok(e.found.length > 0 && e.expected.length > 0, `${path}: found and expected`);
  if (want.found) t.match(e.found, want.found, `${path}: found`);
  if (want.expected) t.match(e.expected, want.expected, `${path}: expected`);
}

void t.test('the demo facility is valid', async (t) => {
  const r = loadFacility(DEMO_FACILITY);
  if (!r.ok) {
    t.fail('demo invalid', { errors: r.errors.map(formatConfigError) });
    return;
  }
  t.equal(r.facility.site.id, 'demo');
  t.same(r.facility.rooms.map((x) => [x.id, x.seats]), [['room-1', 8], ['room-2', 8], ['room-3', 8], ['room-4', 8]]);
  t.same(r.facility.devices.map((d) => d.id).sort(), ['door-1', 'fire-1', 'gate-1', 'gate-2', 'pa-1', 'relay-1', 'relay-2', 'robot-1', 'ups-1']);
  t.same(r.facility.devices.filter((d) => d.transport.type === 'mqtt').map((d) => d.id).sort(), ['door-1', 'fire-1', 'gate-1', 'gate-2', 'robot-1']);
});

void t.test('defaults are applied to a minimal valid file', async (t) => {
  const r = parseFacility(
    `version: 1
site: { id: tiny }
rooms: [{ id: r1, seats: 2 }]
devices:
  - { id: d1, kind: door, transport: { type: mqtt } }
  - { id: relay-a, kind: relay, transport: { type: modbus-tcp, host: 10.0.0.5, port: 502 }, options: { outputs: [{ coil: 0, id: o1, role: jammer }] } }
  - { id: pa, kind: broadcast, transport: { type: serial, path: /dev/ttyS0 } }
`,
    FILE,
  );
  if (!r.ok) {
    t.fail('minimal file invalid', { errors: r.errors.map(formatConfigError) });
    return;
  }
  const f = r.facility;
  t.same(f.site, { id: 'tiny', name: '', utcOffset: '+08:00' });
  t.same(f.zones, []);
  t.same(f.rooms, [{ id: 'r1', name: '', seats: 2 }]);
  t.same(f.policy, {
    checkIn: { faceThreshold: 0.8, allowReentry: false, language: 'zh', opensMinutes: 60, passageTimeoutSeconds: 120 },
    commands: { timeoutMs: 5000, retries: 2 },
    door: { outsideSessions: ['card', 'button'], lockCheckSeconds: 10 },
    audit: { checkpointEvents: 1000, checkpointMinutes: 5 },
  });
  t.match(f.devices[0], { rooms: [], zones: [], options: {}, simulated: false });
  t.same(f.devices[1]?.transport, { type: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 1, timeoutMs: 1000 });
  t.same(f.devices[1]?.options, { coils: 8, outputs: [{ coil: 0, id: 'o1', role: 'jammer', restoreOrder: 0 }], pollMs: 5000 });
  t.same(f.devices[2]?.transport, { type: 'serial', path: '/dev/ttyS0', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 });
  t.same(f.devices[2]?.options, { zones: [], timeoutMs: 2000 });

  const empty = parseFacility('version: 1\nsite: { id: x }\n', FILE);
  t.equal(empty.ok, true, 'rooms and devices may be omitted');
});

void t.test('invalid YAML', async (t) => {
  const broken = errorsOf('version: 1\nsite: { id: x\nrooms: []\n');
  t.ok(broken.length >= 1);
  t.equal(broken[0]?.file, FILE);
  t.type(broken[0]?.line, 'number');
  t.match(broken[0]?.found, /invalid YAML/);
  t.match(broken[0]?.expected, /well-formed YAML/);

  const dupKey = errorsOf('version: 1\nsite: { id: x }\nsite: { id: y }\n');
  t.equal(dupKey.length, 1, 'a duplicated key is an error, not a silent override');
  t.equal(dupKey[0]?.line, 3);

  const notMapping = errorsOf('- version\n- 1\n');
  t.equal(notMapping.length, 1);
  t.match(notMapping[0], { file: FILE, path: '', expected: /mapping/ });
  const emptyDoc = errorsOf('');
  t.equal(emptyDoc.length, 1, 'an empty file is an error');
});

void t.test('a file that cannot be read', async (t) => {
  const r = loadFacility('/nonexistent/facility.yaml');
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.errors[0], { file: '/nonexistent/facility.yaml', found: /cannot be read \(ENOENT\)/ });
});

void t.test('unknown keys are refused, at every level', async (t) => {
  const errors = errorsOf(`version: 1
site: { id: t, colour: blue }
rooms:
  - { id: room-1, seats: 4, windows: 2 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt, qos: 1 }, options: { speed: 3 } }
  - { id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 }, options: { coils: 8, outputs: [{ coil: 0, id: o, role: other, colour: red }] } }
polcy: {}
`);
  hasError(t, errors, '/site/colour', { line: 2, found: /unknown key "colour"/, expected: /only known keys \(id, name, utcOffset\)/ });
  hasError(t, errors, '/rooms/0/windows', { line: 4, found: /windows/ });
  hasError(t, errors, '/devices/0/transport/qos', { line: 6, found: /qos/ });
  hasError(t, errors, '/devices/0/options/speed', { line: 6, found: /speed/ });
  hasError(t, errors, '/devices/1/options/outputs/0/colour', { line: 7 });
  hasError(t, errors, '/polcy', { line: 8, expected: /policy/ });
  t.equal(errors.length, 6, 'exactly these');
});

void t.test('missing fields', async (t) => {
  const errors = errorsOf(`version: 1
rooms:
  - { id: room-1 }
devices:
  - { id: door-1, transport: { type: mqtt } }
  - { id: relay-1, kind: relay, transport: { type: modbus-tcp, port: 502 } }
`);
  hasError(t, errors, '/site', { line: 1, found: /nothing/, expected: /"site" field/ });
  hasError(t, errors, '/rooms/0/seats', { line: 3, found: /nothing/, expected: /"seats"/ });
  hasError(t, errors, '/devices/0/kind', { line: 5, expected: /"kind"/ });
  hasError(t, errors, '/devices/1/transport/host', { line: 6, expected: /"host"/ });
});

void t.test('wrong types', async (t) => {
  const errors = errorsOf(`version: 2
site: { id: t, utcOffset: "8" }
rooms:
  - { id: room-1, seats: eight }
  - { id: Room_2, seats: 4 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt }, simulated: "yes" }
  - { id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: "502" } }
  - { id: pa-1, kind: speaker, transport: { type: carrier-pigeon } }
policy: { commands: { retries: -1 } }
`);
  hasError(t, errors, '/version', { line: 1, found: /2/, expected: /1/ });
  hasError(t, errors, '/site/utcOffset', { line: 2, found: /"8"/, expected: /matching/ });
  hasError(t, errors, '/rooms/0/seats', { line: 4, found: /"eight"/, expected: /integer/ });
  hasError(t, errors, '/rooms/1/id', { line: 5, found: /Room_2/ });
  hasError(t, errors, '/devices/0/simulated', { line: 7, found: /"yes"/, expected: /boolean/ });
  hasError(t, errors, '/devices/1/transport/port', { line: 8, found: /"502"/, expected: /integer/ });
  hasError(t, errors, '/devices/2/kind', { line: 9, found: /speaker/, expected: /one of .*"gate"/ });
  hasError(t, errors, '/devices/2/transport/type', { line: 9, found: /carrier-pigeon/, expected: /one of .*"mqtt"/ });
  hasError(t, errors, '/policy/commands/retries', { line: 10, found: /-1/, expected: />= 0/ });
});

void t.test('bad references: room, zone, device rooms and zones, relay and broadcast rooms', async (t) => {
  const errors = errorsOf(`version: 1
site: { id: t }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: lobby, seats: 4 }
devices:
  - { id: robot-1, kind: robot, transport: { type: mqtt }, rooms: [room-1, room-9] }
  - { id: gate-1, kind: gate, transport: { type: mqtt }, zones: [nowhere] }
  - { id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 }, options: { outputs: [{ coil: 0, id: j1, role: jammer, room: room-7 }] } }
  - { id: pa-1, kind: broadcast, transport: { type: tcp, host: h, port: 5030 }, options: { zones: [{ zone: 1, room: room-5 }, { zone: 2, room: room-1, seat: 9 }] } }
`);
  hasError(t, errors, '/rooms/1/zone', { line: 6, found: /lobby/, expected: /zone defined in \/zones \(eval\)/ });
  hasError(t, errors, '/devices/0/rooms/1', { line: 8, found: /room-9/, expected: /room defined in \/rooms \(room-1, room-2\)/ });
  hasError(t, errors, '/devices/1/zones/0', { line: 9, found: /nowhere/, expected: /zone defined/ });
  hasError(t, errors, '/devices/2/options/outputs/0/room', { line: 10, found: /room-7/ });
  hasError(t, errors, '/devices/3/options/zones/0/room', { line: 11, found: /room-5/ });
  hasError(t, errors, '/devices/3/options/zones/1/seat', { line: 11, found: /9/, expected: /1 to 4/ });
  t.equal(errors.length, 6);
});

void t.test('duplicate ids', async (t) => {
  const errors = errorsOf(`version: 1
site: { id: t }
zones: [{ id: eval }, { id: eval }]
rooms:
  - { id: room-1, seats: 4 }
  - { id: room-1, seats: 6 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt } }
  - { id: door-1, kind: gate, transport: { type: mqtt } }
  - { id: hub, kind: door, transport: { type: mqtt } }
  - { id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 }, options: { outputs: [{ coil: 0, id: o, role: other }, { coil: 0, id: o, role: other }] } }
`);
  hasError(t, errors, '/zones/1/id', { line: 3, expected: /not used by another zone/ });
  hasError(t, errors, '/rooms/1/id', { line: 6, found: /room-1/, expected: /not used by another room/ });
  hasError(t, errors, '/devices/1/id', { line: 9, found: /door-1/, expected: /not used by another device/ });
  hasError(t, errors, '/devices/2/id', { line: 10, found: /hub/, expected: /reserved/ });
  t.ok(errors.some((e) => e.path === '/devices/3/options/outputs/1/coil' && /another output/.test(e.expected)), 'duplicate coil');
  t.ok(errors.some((e) => e.path === '/devices/3/options/outputs/1/id' && /another output/.test(e.expected)), 'duplicate output id');
});

void t.test('one owner per line: serial paths and Modbus endpoints', async (t) => {
  const rtu = (id: string, unit: number, baud = 9600, path = '/dev/ttyUSB0'): string => `{ id: ${id}, kind: relay, transport: { type: modbus-rtu, path: "${path}", unitId: ${unit}, baudRate: ${baud} } }`;

  const serial = errorsOf(withDevices('{ id: pa-1, kind: broadcast, transport: { type: serial, path: /dev/ttyUSB0 } }', rtu('relay-1', 1)));
  hasError(t, serial, '/devices/2/transport', { line: FIRST_EXTRA_LINE + 1, found: /\/dev\/ttyUSB0 already used by \/devices\/1/, expected: /owned by one device/ });

  const tcp = errorsOf(
    withDevices(
      '{ id: ups-1, kind: ups, transport: { type: modbus-tcp, host: 10.0.0.9, port: 502 } }',
      '{ id: relay-1, kind: relay, transport: { type: modbus-tcp, host: 10.0.0.9, port: 502, unitId: 1 } }',
    ),
  );
  hasError(t, tcp, '/devices/2/transport', { line: FIRST_EXTRA_LINE + 1, found: /10\.0\.0\.9:502 already used by \/devices\/1/ });
  t.equal(tcp.length, 1);

  const tcpVsPa = errorsOf(withDevices('{ id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: 5030 } }', '{ id: pa-1, kind: broadcast, transport: { type: tcp, host: h, port: 5030 } }'));
  hasError(t, tcpVsPa, '/devices/2/transport', { found: /h:5030/ });

  const gpio = errorsOf(withDevices('{ id: ups-1, kind: ups, transport: { type: gpio, line: 17 } }', '{ id: ups-2, kind: ups, transport: { type: gpio, line: 17 } }'));
  hasError(t, gpio, '/devices/2/transport', { found: /17 already used/ });

  t.same(errorsOf(withDevices(rtu('relay-1', 1), rtu('relay-2', 2), rtu('ups-1', 3))), [], 'RTU multi-drop: distinct unit ids on one bus are allowed');
  t.same(errorsOf(withDevices(rtu('relay-1', 1), rtu('relay-2', 1, 9600, '/dev/ttyUSB1'))), [], 'same unit id on different buses is fine');
  hasError(t, errorsOf(withDevices(rtu('relay-1', 1), rtu('relay-2', 1))), '/devices/2/transport', { found: /\/dev\/ttyUSB0 already used by \/devices\/1/ });
  hasError(t, errorsOf(withDevices(rtu('relay-1', 1), rtu('relay-2', 2, 19200))), '/devices/2/transport', { found: /already used/ });
});

void t.test('one owner per line: a third device on a multi-drop bus reusing the second one\'s unit id', async (t) => {
  const rtu = (id: string, unit: number): string => `{ id: ${id}, kind: relay, transport: { type: modbus-rtu, path: /dev/ttyUSB0, unitId: ${unit} } }`;
  const errors = errorsOf(withDevices(rtu('relay-1', 1), rtu('relay-2', 2), rtu('relay-3', 2)));
  hasError(t, errors, '/devices/3/transport', { line: FIRST_EXTRA_LINE + 2, found: /already used by \/devices\/2/ });
});

void t.test('a transport not allowed for the kind', async (t) => {
  const errors = errorsOf(withDevices('{ id: relay-1, kind: relay, transport: { type: mqtt } }', '{ id: gate-1, kind: gate, transport: { type: tcp, host: h, port: 1 } }', '{ id: ups-1, kind: ups, transport: { type: serial, path: /dev/ttyS1 } }'));
  hasError(t, errors, '/devices/1/transport/type', { line: FIRST_EXTRA_LINE, found: /mqtt/, expected: /a transport for a relay: one of modbus-tcp, modbus-rtu/ });
  hasError(t, errors, '/devices/2/transport/type', { line: FIRST_EXTRA_LINE + 1, found: /tcp/, expected: /for a gate: one of mqtt/ });
  hasError(t, errors, '/devices/3/transport/type', { line: FIRST_EXTRA_LINE + 2, expected: /for a ups: one of modbus-tcp, modbus-rtu, nut, gpio/ });
  t.equal(errors.length, 3);
});

void t.test('relay coils out of range', async (t) => {
  const errors = errorsOf(
    withDevices(
      '{ id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 }, options: { coils: 4, outputs: [{ coil: 3, id: a, role: jammer }, { coil: 4, id: b, role: jammer }] } }',
      '{ id: relay-2, kind: relay, transport: { type: modbus-tcp, host: h, port: 503 }, options: { outputs: [{ coil: 8, id: c, role: sheddable }, { coil: 300, id: d, role: other }] } }',
    ),
  );
  hasError(t, errors, '/devices/1/options/outputs/1/coil', { line: FIRST_EXTRA_LINE, found: /^4$/, expected: /below 4/ });
  hasError(t, errors, '/devices/2/options/outputs/0/coil', { line: FIRST_EXTRA_LINE + 1, found: /^8$/, expected: /below 8/ });
  hasError(t, errors, '/devices/2/options/outputs/1/coil', { line: FIRST_EXTRA_LINE + 1, found: /300/, expected: /<= 255/ });
  t.notOk(errors.some((e) => e.path === '/devices/1/options/outputs/0/coil'), 'coil 3 of 4 is fine');
});

void t.test('every error is reported at once', async (t) => {
  const errors = errorsOf(`version: 1
site: { id: t, colour: blue }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: eight }
  - { id: room-1, zone: lobby, seats: 4 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt }, rooms: [room-9] }
  - { id: door-1, kind: relay, transport: { type: mqtt } }
  - { id: relay-2, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 }, options: { coils: 2, outputs: [{ coil: 2, id: o, role: jammer }] } }
  - { id: relay-3, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 } }
`);
  const paths = errors.map((e) => e.path).sort();
  t.same(
    paths,
    [
      '/devices/0/rooms/0',
      '/devices/1/id',
      '/devices/1/transport/type',
      '/devices/2/options/outputs/0/coil',
      '/devices/3/transport',
      '/rooms/0/seats',
      '/rooms/1/id',
      '/rooms/1/zone',
      '/site/colour',
    ].sort(),
    'schema and semantic errors together, one run',
  );
  t.ok(errors.every((e) => e.file === FILE && typeof e.line === 'number' && e.found !== '' && e.expected !== ''), 'each with file, line, found, expected');
  for (const e of errors) t.match(formatConfigError(e), new RegExp(`^${FILE}:\\d+: ${e.path.replace(/\//g, '\\/')}: found .+, expected .+$`));
});

void t.test('one device with an unknown kind does not hide the other errors', async (t) => {
  const errors = errorsOf(`version: 1
site: { id: t }
rooms:
  - { id: room-1, seats: 4 }
  - { id: room-1, seats: 4 }
devices:
  - { id: cam-1, kind: camera, transport: { type: mqtt } }
  - { id: robot-1, kind: robot, transport: { type: mqtt }, rooms: [room-9] }
  - { id: robot-1, kind: robot, transport: { type: mqtt } }
`);
  hasError(t, errors, '/devices/0/kind', { line: 7, found: /camera/ });
  hasError(t, errors, '/rooms/1/id', { line: 5, expected: /another room/ });
  hasError(t, errors, '/devices/1/rooms/0', { line: 8, found: /room-9/ });
  hasError(t, errors, '/devices/2/id', { line: 9, expected: /another device/ });
});

void t.test('loadFacility reads a file and names it in errors', async (t) => {
  const tmp = tempDir('fh-config-');
  t.teardown(tmp.cleanup);
  const file = join(tmp.dir, 'site.yaml');
  writeFileSync(file, 'version: 1\nsite: { id: t }\nrooms: [{ id: r, seats: 0 }]\n');
  const r = loadFacility(file);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.errors.length, 1);
    t.match(r.errors[0], { file, path: '/rooms/0/seats', line: 3, found: '0', expected: />= 1/ });
    t.equal(formatConfigError(r.errors[0]!), `${file}:3: /rooms/0/seats: found 0, expected ${r.errors[0]!.expected}`);
  }
});

void t.test('config check reports every error at once: schema, semantic and feature passes all run', async (t) => {
  const errors = errorsOf(`version: 1
site: { id: t }
zones:
  - { id: eval }
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: nowhere, seats: 4 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt }, rooms: [room-9] }
  - { id: relay-1, kind: relay, transport: { type: modbus-tcp, host: h, port: 99999 }, options: { outputs: [{ coil: 0, id: o1, role: jammer }] } }
  - "just a string"
broadcast:
  messages: [{ id: 1, text: hi }]
  announcements:
    - { id: a1, cron: "bad cron", messageId: 7 }
power:
  shutdown:
    hosts: [{ device: relay-1 }, { device: nobody }]
`);
  // One schema error used to switch off the semantic pass (a device that is not a mapping)
  // and any error at all the feature checks (messageId, shutdown hosts): 3 of 8 were reported.
  t.same(
    errors.map((e) => e.path).sort(),
    [
      '/broadcast/announcements/0/cron',
      '/broadcast/announcements/0/messageId',
      '/devices/0/rooms/0',
      '/devices/1/transport/port',
      '/devices/2',
      '/power/shutdown/hosts/0/device',
      '/power/shutdown/hosts/1/device',
      '/rooms/1/zone',
    ],
    'all eight problems',
  );
  hasError(t, errors, '/rooms/1/zone', { line: 7, found: /nowhere/, expected: /zone defined in \/zones/ });
  hasError(t, errors, '/devices/0/rooms/0', { line: 9, found: /room-9/ });
  hasError(t, errors, '/devices/2', { line: 11, expected: /object/ });
  hasError(t, errors, '/broadcast/announcements/0/messageId', { line: 15, found: /7/, expected: /\/broadcast\/messages \(1\)/ });
  hasError(t, errors, '/power/shutdown/hosts/0/device', { found: /"relay-1" \(modbus-tcp\)/, expected: /MQTT device/ });
  hasError(t, errors, '/power/shutdown/hosts/1/device', { found: /nobody/ });
  t.equal(errors.filter((e) => e.path === '/broadcast/announcements/0/cron').length, 1, 'a problem two passes see is reported once');
});

void t.test('the feature checks survive sections of the wrong shape', async (t) => {
  const errors = errorsOf(`${BASE}broadcast:
  messages: "none"
  announcements: [5, { id: a1, afterStartMinutes: 5, messageId: 3 }]
power:
  shutdown: { hosts: [null, { device: door-1 }] }
`);
  hasError(t, errors, '/broadcast/messages', { expected: /array/ });
  hasError(t, errors, '/broadcast/announcements/0', { expected: /object/ });
  hasError(t, errors, '/broadcast/announcements/1/messageId', { found: /3/, expected: /none/ });
  hasError(t, errors, '/power/shutdown/hosts/0', { expected: /object/ });
  t.notOk(errors.some((e) => e.path === '/power/shutdown/hosts/1/device'), 'door-1 is an MQTT device: fine');
});
