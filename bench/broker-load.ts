import mqtt from 'mqtt';
import { createInterface } from 'node:readline';

/**
 * The load generator of the broker bench, a separate process so that the broker's CPU is
 * measured alone: one publisher → one subscriber, QoS 1, 16-byte JSON payloads, through
 * whichever broker is at `url`. Prints "ready", waits for "go" on stdin, then publishes
 * `count` messages (at most `window` unacknowledged) and prints one JSON line when the
 * subscriber has received them all: { received, ms, outOfOrder }.
 */
const [url = '', countArg = '0', windowArg = '100'] = process.argv.slice(2);
const count = Number(countArg);
const window = Number(windowArg);
const common = { protocolVersion: 4 as const, reconnectPeriod: 0, clean: true };
const sub = await mqtt.connectAsync(url, { ...common, clientId: 'bench-sub', username: 'sub', password: 'bench' });
const pub = await mqtt.connectAsync(url, { ...common, clientId: 'bench-pub', username: 'hub', password: 'bench' });
const topic = 'fh/demo/hub/event';
const granted = await sub.subscribeAsync(topic, { qos: 1 });
if (granted[0]?.qos !== 1) throw new Error(`subscription not granted at QoS 1: ${JSON.stringify(granted)}`);

let received = 0;
let outOfOrder = 0;
let last = -1;
let finish: () => void = () => undefined;
const allIn = new Promise<void>((resolve) => (finish = resolve));
sub.on('message', (_t, payload) => {
  // The generator checks what arrives: a broker that drops or mangles messages fails.
  const n = (JSON.parse(payload.toString('utf8')) as { n: number }).n - 1_000_000_000;
  if (n !== last + 1) outOfOrder++;
  last = n;
  if (++received === count) finish();
});

const rl = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
await new Promise<void>((resolve) => rl.once('line', () => resolve()));
const t0 = performance.now();
let sent = 0;
let inFlight = 0;
await new Promise<void>((resolve, reject) => {
  const pump = (): void => {
    while (inFlight < window && sent < count) {
      // 16 bytes of valid JSON: {"n":1000000000} and up.
      const payload = `{"n":${1_000_000_000 + sent}}`;
      sent++;
      inFlight++;
      pub.publish(topic, payload, { qos: 1 }, (err) => {
        if (err) return reject(err);
        inFlight--;
        if (sent < count) pump();
        else if (inFlight === 0) resolve();
      });
    }
  };
  pump();
});
await allIn;
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ received, ms, outOfOrder })}\n`);
rl.close();
await pub.endAsync();
await sub.endAsync();
