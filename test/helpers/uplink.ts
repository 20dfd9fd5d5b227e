/** Hub-side helpers of the uplink tests (test/hub/uplink): a facility with an uplink, its feature, streams of events. */
import type { Test } from 'tap';
import { facility, MQTT_ONLY_FACILITY, waitFor, type TestHub } from './hub.js';
import type { Receiver } from './mosquitto-upstream.js';
import type { UplinkFeature } from '../../hub/uplink/feature.js';

export function uplinkFacility(url: string, extra = ''): ReturnType<typeof facility> {
  return facility(`${MQTT_ONLY_FACILITY}
uplink:
  url: ${url}
  reconnectMinMs: 50
  reconnectMaxMs: 400
${extra}`);
}

export const uplinkOf = (th: TestHub): UplinkFeature => th.hub.features.find((f) => f.name === 'uplink') as UplinkFeature;

/** Appends n uplinked events (check-in passages: room and seat only) in bursts of `burst`. */
export async function appendPassages(th: TestHub, n: number, burst = 50, from = 0): Promise<void> {
  for (let i = 0; i < n; i += burst) {
    const writes: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + burst); j++) {
      writes.push(th.hub.events.append({ type: 'checkin.passed', actor: 'device:gate-1', deviceId: 'gate-1', data: { requestId: `r-${from + j}`, room: 'room-1', seat: 1 + ((from + j) % 4), n: from + j } }));
    }
    await Promise.all(writes);
  }
}

/** The receiver holds every seq 1..lastSeq, once each after dedupe. */
export function assertComplete(t: Test, rx: Receiver, lastSeq: number, what: string): void {
  const seqs = [...rx.bySeq.keys()].sort((a, b) => a - b);
  t.equal(seqs.length, lastSeq, `${what}: ${lastSeq} distinct seqs`);
  t.same(seqs, Array.from({ length: lastSeq }, (_, i) => i + 1), `${what}: the set of seqs is exactly 1..${lastSeq} (none lost)`);
}

export async function drained(th: TestHub, rx: Receiver, timeoutMs = 20_000): Promise<number> {
  const up = uplinkOf(th);
  await up.settled();
  await waitFor(() => up.status().backlog === 0 && rx.bySeq.size >= up.status().lastSeq, timeoutMs, 'the outbox to drain to the receiver').catch((err: unknown) => {
    const missing = Array.from({ length: up.status().lastSeq }, (_, i) => i + 1).filter((s) => !rx.bySeq.has(s));
    throw new Error(`${String(err)}: status ${JSON.stringify(up.status())}, received ${rx.bySeq.size}, missing ${missing.length} (${missing.slice(0, 10).join(',')})`);
  });
  return up.status().lastSeq;
}


/** Appends N passages in bursts, with a pause between bursts, while the test does something else. */
export function stream(th: TestHub, n: number): Promise<void> {
  return (async () => {
    for (let i = 0; i < n; i += 100) {
      await appendPassages(th, 100, 50, i);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
}
