import t from 'tap';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { checkinHarness, iso, T0 } from '../helpers/checkin.js';
import { tempDir } from '../helpers/hub.js';
import { runCli } from '../fixtures/cli.js';
import { demoPeople } from '../../simulators/demo-people.js';

const MIN = 60_000;

void t.test('a backup taken by the CLI during a check-in burst restores, verifies and holds every grant answered before it', async (t) => {
  const tmp = tempDir('fh-backup-');
  t.teardown(tmp.cleanup);
  const h = await checkinHarness({ dataDir: join(tmp.dir, 'data') });
  t.teardown(() => h.stop());
  // Three rooms, one expert of a session per room: four sessions of three.
  const people = demoPeople(0, 12);
  const sessions: string[] = [];
  for (let i = 0; i < 4; i++) {
    const s = await h.createSession({ code: `BK-${i}`, name: `Backup project ${i}`, start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
    await h.roster(s.id, people.slice(i * 3, i * 3 + 3));
    sessions.push(s.id);
  }
  const gates = [await h.gate('gate-1'), await h.gate('gate-2')];

  const before = await Promise.all(people.slice(0, 4).map((p, i) => gates[i % 2]!.present(p)));
  t.ok(before.every((a) => a.decision === 'grant'), 'four grants answered before the backup');

  // The burst goes on while another process copies the database.
  const burst = Promise.all(people.slice(4).map((p, i) => gates[i % 2]!.present(p)));
  const out = join(tmp.dir, 'hub.fhbak');
  const backup = await runCli(['backup', '--out', out, '--data-dir', h.th.dataDir]);
  t.equal(backup.code, 0, backup.stderr);
  t.match(backup.stdout, /backup written: .*hub\.fhbak .*id-hash\.key/);
  t.ok((await burst).every((a) => a.decision === 'grant'), 'the burst was answered');
  t.equal(statSync(out).mode & 0o777, 0o600, 'the backup file is its owner\'s only');

  const again = await runCli(['backup', '--out', out, '--data-dir', h.th.dataDir]);
  t.equal(again.code, 1, 'a backup never overwrites');
  t.match(again.stderr, /exists/);

  const restored = join(tmp.dir, 'restored');
  const r = await runCli(['restore', out, '--data-dir', restored]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /audit log verified/);
  t.equal(statSync(restored).mode & 0o777, 0o700, 'the restored data dir is 0700');
  for (const f of readdirSync(restored)) t.equal(statSync(join(restored, f)).mode & 0o777, 0o600, `${f} is 0600`);
  t.ok(existsSync(join(restored, 'id-hash.key')), 'the ID-hash key came back (the hashes in the rosters need it)');

  const db = new Database(join(restored, 'hub.sqlite'), { readonly: true });
  t.teardown(() => db.close());
  const granted = (db.prepare('SELECT COUNT(*) AS n FROM checkins').get() as { n: number }).n;
  t.ok(granted >= 4, `every grant answered before the backup is in it (${granted})`);
  t.equal((db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name LIKE 'fh_backup%'").get() as { n: number }).n, 0, 'the backup\'s own tables are gone');

  const verify = await runCli(['audit', 'verify', '--data-dir', restored]);
  t.equal(verify.code, 0, verify.stderr);
  t.match(verify.stdout, /^ok: /);

  const busy = await runCli(['restore', out, '--data-dir', restored]);
  t.equal(busy.code, 1, 'a data dir that holds hub data is never overwritten');
  t.match(busy.stderr, /already holds hub data/);
});

void t.test('restore refuses a tampered backup, and anything that is not a backup, creating nothing', async (t) => {
  const tmp = tempDir('fh-backup-');
  t.teardown(tmp.cleanup);
  const h = await checkinHarness({ dataDir: join(tmp.dir, 'data') });
  const people = demoPeople(0, 2);
  const s = await h.createSession({ code: 'BK-2', name: 'Tamper', start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
  await h.roster(s.id, people);
  await h.stop();

  const out = join(tmp.dir, 'b.fhbak');
  t.equal((await runCli(['backup', '--out', out, '--data-dir', join(tmp.dir, 'data')])).code, 0);
  const db = new Database(out);
  db.prepare("UPDATE events SET data = json_set(data, '$.forged', 1) WHERE seq = 2").run();
  db.close();
  const target = join(tmp.dir, 'restored');
  const r = await runCli(['restore', out, '--data-dir', target]);
  t.equal(r.code, 1);
  t.match(r.stderr, /audit log does not verify \(record #2/);
  t.notOk(existsSync(target), 'nothing was created');
  t.same(readdirSync(tmp.dir).filter((n) => n.includes('restoring')), [], 'and no scratch folder is left');

  const junk = join(tmp.dir, 'junk.fhbak');
  writeFileSync(junk, 'not a database');
  const j = await runCli(['restore', junk, '--data-dir', target]);
  t.equal(j.code, 1);
  t.match(j.stderr, /not a facility-hub backup/);
  t.notOk(existsSync(target));

  const missing = await runCli(['backup', '--out', join(tmp.dir, 'x.fhbak'), '--data-dir', join(tmp.dir, 'nope')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no hub data here/);
  t.equal((await runCli(['restore', out])).code, 2, 'usage without --data-dir');
});
