import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkinHarness, iso, T0, demoPerson } from '../../helpers/checkin.js';
import { facility, MQTT_ONLY_FACILITY, nextMessage, tempDir, waitFor } from '../../helpers/hub.js';
import { readAuditSigner } from '../../../hub/audit/keys.js';
import { encodeVerifier, openCheckpoint } from '../../../hub/audit/note.js';
import { buildPack, encodePack, verifyPack, type EvidencePack } from '../../../hub/audit/pack.js';
import { latestCheckpoint } from '../../../hub/audit/checkpoints.js';
import type { AuditFeature, CheckpointMessage } from '../../../hub/audit/feature.js';
import { canonicalJson } from '../../../hub/store/events.js';
import { runCli } from '../../fixtures/cli.js';

const MIN = 60_000;
const FACILITY = `${MQTT_ONLY_FACILITY}
policy:
  audit: { checkpointEvents: 5, checkpointMinutes: 5 }
`;

void t.test('checkpoints are signed, stored and published; a closed session is sealed; its pack verifies offline and any changed byte fails', async (t) => {
  const tmp = tempDir('fh-audit-hub-');
  t.teardown(tmp.cleanup);
  // What a regulator keeps lives outside the data dir (which holds only the hub's own 0600 files).
  const elsewhere = tempDir('fh-audit-kept-');
  t.teardown(elsewhere.cleanup);
  const h = await checkinHarness({ facility: facility(FACILITY), dataDir: tmp.dir });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await h.stop();
  });
  const hub = h.th.hub;
  const signer = readAuditSigner(tmp.dir);
  if (!signer) throw new Error('the hub made no signing key');
  const origin = 'facility-hub.local/demo/events';
  t.equal(signer.name, origin);

  // A device (any client allowed fh/{site}/hub/#) gets the retained checkpoint.
  const door = await h.th.connectDevice('door-1');
  const heard: CheckpointMessage[] = [];
  door.on('message', (topic, payload) => {
    if (topic === 'fh/demo/hub/checkpoint') heard.push(JSON.parse(payload.toString('utf8')) as CheckpointMessage);
  });
  const first = (await nextMessage(door, 'fh/demo/hub/checkpoint')) as CheckpointMessage;
  t.match(first, { origin, key: encodeVerifier(signer) });
  const opened = openCheckpoint(first.note, signer, origin);
  if ('error' in opened) throw new Error(opened.error);
  t.equal(opened.size, first.size);
  t.ok(first.size >= 1, 'the start is covered');

  // Every 5 records a checkpoint.
  const audit = hub.features.find((f) => f.name === 'audit') as AuditFeature;
  const s = await h.createSession({ code: 'A-1', name: 'Audited project', start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
  await h.roster(s.id, [demoPerson(1), demoPerson(2)]);
  for (let i = 0; i < 6; i++) await hub.events.append({ type: 'test.filler', actor: 'hub', sessionIds: [s.id], data: { i } });
  await waitFor(() => (latestCheckpoint(hub.store.db)?.size ?? 0) >= hub.events.count() - 4, 5000, 'a checkpoint within 5 records of the head');

  // Every 5 minutes when the log grew.
  await hub.events.append({ type: 'test.more', actor: 'hub' });
  const grown = hub.events.count();
  // Five minutes also make the devices that never connected an alarm each, logged one by
  // one: the checkpoint on demand below must come after the last of them.
  const silent = hub.facility.devices.map((d) => d.id).filter((id) => !hub.availability.isAvailable(id));
  h.clock.advance(5 * MIN);
  await waitFor(() => (latestCheckpoint(hub.store.db)?.size ?? 0) >= grown, 5000, 'an interval checkpoint');
  await waitFor(() => silent.every((id) => hub.events.query({ type: 'alarm.raised', deviceId: id }).length > 0), 5000, `the offline alarms of ${silent.join(', ')}`);
  const asked = await audit.checkpoint('test');
  t.equal(asked.size, hub.events.count(), 'a checkpoint on demand covers the head');
  t.equal((await audit.checkpoint('test')).note, asked.note, 'asked again at the same size: the same checkpoint');

  // Closing the session seals it (count and digest) and signs a checkpoint after the seal.
  const gate = await h.gate('gate-1');
  t.equal((await gate.present(demoPerson(1))).decision, 'grant');
  const res = await hub.api().inject({ method: 'POST', url: `/api/sessions/${s.id}/close`, headers: { authorization: `Bearer ${h.token}` } });
  t.equal(res.statusCode, 200, res.body);
  const seal = hub.events.query({ sessionId: s.id, type: 'audit.session-sealed' });
  t.equal(seal.length, 1, 'one seal');
  const sessionRecords = hub.events.query({ sessionId: s.id, limit: 5000 }).filter((e) => e.seq < seal[0]!.seq);
  t.match(seal[0]!.data, { events: sessionRecords.length, digest: /^[0-9a-f]{64}$/ });
  await waitFor(() => heard.some((m) => m.reason === `session-closed:${s.id}`), 5000, 'the close checkpoint published');
  const closeCheckpoint = heard.find((m) => m.reason === `session-closed:${s.id}`)!;
  t.ok(closeCheckpoint.size >= seal[0]!.seq, 'the published checkpoint covers the seal');
  t.ok(heard.some((m) => m.reason === 'events') && heard.some((m) => m.reason === 'interval'), 'event-count and interval checkpoints were published too');

  // The evidence pack, in process.
  const cp = latestCheckpoint(hub.store.db, seal[0]!.seq)!;
  const pack = buildPack(hub.store.db, s.id, cp, signer, h.clock.now());
  const text = encodePack(pack);
  const ok = verifyPack(text, signer);
  t.match(ok, { ok: true, lines: [/^ok: \d+ records of session/, /complete: the session's seal covers exactly/] });
  t.match(verifyPack(text, null), { ok: true, warnings: [/checked with the key inside the pack/] });
  t.ok(pack.events.some((e) => e.type === 'checkin.granted'), 'the grant is in it');
  t.notOk(text.includes(demoPerson(1).idNumber), 'no clear ID number in the pack');

  // One changed byte anywhere fails.
  fc.assert(
    fc.property(fc.nat({ max: text.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, delta) => {
      const bytes = Buffer.from(text, 'utf8');
      if (pos >= bytes.length) return true;
      bytes[pos] = (bytes[pos]! + delta) % 256;
      return !verifyPack(bytes.toString('utf8'), signer).ok;
    }),
    { numRuns: 200, seed: 6962 },
  );
  t.pass('200 single-byte changes, all refused');
  // Leaving out one record, re-encoded canonically (so only the seal can tell).
  const dropped: EvidencePack = { ...pack, events: pack.events.filter((e) => e.type !== 'checkin.granted') };
  t.match(verifyPack(encodePack(dropped), signer), { ok: false, problem: /records were left out/ });
  const otherKey = { ...pack, publicKey: encodeVerifier({ ...signer, name: 'x.test/other' }) };
  t.match(verifyPack(`${canonicalJson(otherKey)}\n`, signer), { ok: false, problem: /not by the key you trust|public key/ });

  await door.endAsync(true);
  await h.stop();
  stopped = true;

  // The same through the CLI, offline: verify against the published checkpoint, export, verify-pack.
  const cpFile = join(elsewhere.dir, 'kept-elsewhere.json');
  writeFileSync(cpFile, JSON.stringify(closeCheckpoint));
  const key = await runCli(['audit', 'key', '--data-dir', tmp.dir]);
  t.equal(key.code, 0, key.stderr);
  t.equal(key.stdout.trim(), encodeVerifier(signer));
  const v = await runCli(['audit', 'verify', '--data-dir', tmp.dir, '--checkpoint', cpFile, '--key', key.stdout.trim()]);
  t.equal(v.code, 0, v.stderr);
  t.match(v.stdout, /^ok: \d+ records, chain intact, head [0-9a-f]{64}\nMerkle tree: size \d+, root \S+\n\d+ signed checkpoint\(s\) verified.*\nconsistent with the checkpoint given/);
  const out = join(elsewhere.dir, 'pack.json');
  const ex = await runCli(['audit', 'export', '--session', s.id, '--out', out, '--data-dir', tmp.dir]);
  t.equal(ex.code, 0, ex.stderr);
  t.ok(existsSync(out));
  const vp = await runCli(['audit', 'verify-pack', out, '--key', key.stdout.trim()]);
  t.equal(vp.code, 0, vp.stderr);
  t.match(vp.stdout, /complete: the session's seal covers exactly/);
  const bytes = readFileSync(out);
  const mid = Math.floor(bytes.length / 2);
  bytes[mid] = bytes[mid]! ^ 0x01;
  const bad = join(elsewhere.dir, 'bad.json');
  writeFileSync(bad, bytes);
  const vb = await runCli(['audit', 'verify-pack', bad, '--key', key.stdout.trim()]);
  t.equal(vb.code, 3, 'a pack with one changed byte fails');
  t.match(vb.stderr, /^INVALID: /);
  const none = await runCli(['audit', 'export', '--session', 'no-such', '--out', join(elsewhere.dir, 'x.json'), '--data-dir', tmp.dir]);
  t.not(none.code, 0);
  t.match(none.stderr, /no session "no-such"/);
});

void t.test('audit verify on a data dir that does not exist fails and creates nothing', async (t) => {
  const tmp = tempDir('fh-audit-cli-');
  t.teardown(tmp.cleanup);
  const missing = join(tmp.dir, 'typo');
  const r = await runCli(['audit', 'verify', '--data-dir', missing]);
  t.not(r.code, 0);
  t.equal(r.stdout, '', 'never "ok"');
  t.match(r.stderr, /no such data dir \(nothing was created\)/);
  t.notOk(existsSync(missing), 'nothing created');
  const k = await runCli(['audit', 'key', '--data-dir', missing]);
  t.not(k.code, 0);
  t.notOk(existsSync(missing));
});
