import { parentPort } from 'node:worker_threads';
import mqtt, { type MqttClient } from 'mqtt';

/**
 * The simulated devices of the MQTT benchmarks, on their own thread (their own event
 * loop, as real devices are separate machines): gates that send `verify` bursts and
 * time each answer, and that acknowledge every `cmd` at once.
 */
type Msg =
  | { op: 'connect'; url: string; site: string; devices: { id: string; token: string }[] }
  | { op: 'burst'; requests: { deviceId: string; requestId: string; idNumber: string; name: string }[]; spreadMs?: number; expect: Expect }
  | { op: 'close' };

/** The answer every gate must get in a round; anything else fails the bench. */
interface Expect {
  decision: 'grant' | 'deny';
  reason?: string;
  seated: boolean;
}

const port = parentPort!;
let expect: Expect = { decision: 'grant', seated: false };
const clients = new Map<string, MqttClient>();
const pending = new Map<string, number>();
const arrived = new Map<string, number>();
let samples: number[] = [];
let expected = 0;
let site = 'demo';
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

port.on('message', (msg: Msg) => {
  void handle(msg).catch((err: unknown) => port.postMessage({ op: 'error', error: String(err) }));
});

async function handle(msg: Msg): Promise<void> {
  if (msg.op === 'connect') {
    site = msg.site;
    await Promise.all(
      msg.devices.map(async (d) => {
        const c = await mqtt.connectAsync(msg.url, { username: d.id, password: d.token, clientId: `bench-${d.id}`, reconnectPeriod: 0, protocolVersion: 4 });
        // TCP_NODELAY on the gates too. A real gate sends one request per person, seconds
        // apart; here bursts follow each other at once, and a gate's next request would wait
        // (Nagle) for the hub's delayed ACK of its last PUBACK: measured as stragglers
        // arriving in 4 ms steps up to 45 ms late, in echo and decision rounds alike.
        (c.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
        // The answer's arrival is timed when its bytes reach this device's socket, before
        // MQTT parsing: 200 simulated gates share one thread here, and parsing a clump of
        // answers one after another would otherwise be counted against the hub.
        c.stream.prependListener('data', () => arrived.set(d.id, now()));
        c.on('message', (topic, payload) => onMessage(c, d.id, topic, payload));
        await c.subscribeAsync([`fh/${site}/${d.id}/cmd`, `fh/${site}/${d.id}/verify/result`], { qos: 1 });
        clients.set(d.id, c);
      }),
    );
    port.postMessage({ op: 'connected', count: clients.size });
  } else if (msg.op === 'burst') {
    samples = [];
    expected = msg.requests.length;
    expect = msg.expect;
    const send = (r: (typeof msg.requests)[number]): void => {
      pending.set(r.requestId, now());
      clients.get(r.deviceId)!.publish(`fh/${site}/${r.deviceId}/verify`, JSON.stringify({ requestId: r.requestId, idNumber: r.idNumber, name: r.name, faceScore: 0.95, liveness: true }), { qos: 1 });
    };
    const spread = msg.spreadMs ?? 0;
    if (spread === 0) msg.requests.forEach(send);
    // Arrivals evenly spread over the window: people walking up to the gates.
    else msg.requests.forEach((r, i) => setTimeout(() => send(r), (i * spread) / msg.requests.length));
  } else {
    await Promise.all([...clients.values()].map((c) => c.endAsync(true)));
    port.postMessage({ op: 'closed' });
  }
}

function onMessage(c: MqttClient, deviceId: string, topic: string, payload: Buffer): void {
  if (topic.endsWith('/cmd')) {
    const { id } = JSON.parse(payload.toString()) as { id: string };
    c.publish(`fh/${site}/${deviceId}/cmd/ack`, JSON.stringify({ id, ok: true }), { qos: 1 });
    return;
  }
  const answer = JSON.parse(payload.toString()) as { requestId: string; decision?: string; reason?: string; room?: unknown; seat?: unknown };
  const { requestId } = answer;
  const t0 = pending.get(requestId);
  if (t0 === undefined) return;
  // The simulated gate checks its answer: a regression to a cheap wrong path (a deny, a
  // grant without a seat) must fail the bench, not improve its figures.
  const wrong =
    answer.decision !== expect.decision ||
    (expect.reason !== undefined && answer.reason !== expect.reason) ||
    (expect.seated && (typeof answer.room !== 'string' || answer.seat === undefined));
  if (wrong) {
    port.postMessage({ op: 'error', error: `${deviceId} request ${requestId}: expected ${JSON.stringify(expect)}, got ${payload.toString()}` });
    return;
  }
  pending.delete(requestId);
  samples.push((arrived.get(deviceId) ?? now()) - t0);
  if (samples.length === expected) port.postMessage({ op: 'burst-done', samples });
}
