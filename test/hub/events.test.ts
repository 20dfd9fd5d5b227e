import t from 'tap';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { Store } from '../../hub/store/store.js';
import { EventLog, GENESIS_HASH, canonicalJson, eventHash, verifyChain, type StoredEvent } from '../../hub/store/events.js';
import { silentLogger } from '../../hub/log.js';
import { tempDir } from '../helpers/hub.js';

interface Cleanup {
  teardown(fn: () => unknown): void;
}

function setup(t: Cleanup, now = () => 1_790_000_000_000): { store: Store; events: EventLog; dir: string } {
  const tmp = tempDir('fh-events-');
  const store = new Store({ dataDir: tmp.dir, log: silentLogger() });
  t.teardown(async () => {
    await store.close();
    tmp.cleanup();
  });
  return { store, events: new EventLog(store, now), dir: tmp.dir };
}

async function fill(events: EventLog, n: number): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(await events.append({ type: `test.e${i}`, actor: 'hub', deviceId: i % 2 ? 'door-1' : 'gate-1', sessionIds: i === 3 ? ['s-2', 's-1', 's-1'] : [], data: { i, nested: { b: 2, a: 1 } } }));
  }
  return out;
}

void t.test('canonical JSON sorts keys at every depth and drops undefined', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  t.equal(canonicalJson(null), 'null');
  t.equal(canonicalJson('x'), '"x"');
});

void t.test("canonical JSON's fast path gives the library's very text, and throws where it throws", async (t) => {
  const outcome = (f: () => string | undefined): string => {
    try {
      return `ok:${f() ?? 'null'}`;
    } catch {
      return 'throws';
    }
  };
  // Strings of any UTF-16 code units (lone surrogates included), odd numbers, nesting, undefined members.
  const leaf = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map((c) => String.fromCharCode(c)) }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant(-0));
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v')), fc.dictionary(fc.string({ unit: 'binary' }), tie('v'))),
  })).v;
  fc.assert(
    fc.property(value, (v) => outcome(() => canonicalJson(v)) === outcome(() => canonicalize(v) ?? 'null')),
    { numRuns: 2000, seed: 20261201 },
  );
  // What the fast path hands to the library: a toJSON (a Date), deeper nesting than it walks.
  const deep: unknown[] = [];
  let cur = deep;
  for (let i = 0; i < 40; i++) cur.push((cur = []));
  for (const v of [{ at: new Date(0) }, deep, [1, () => 2], { a: Symbol('s') }]) t.equal(outcome(() => canonicalJson(v)), outcome(() => canonicalize(v) ?? 'null'));
  t.throws(() => canonicalJson({ ['\ud800']: 1 }), 'a lone surrogate in a key is refused');
  t.throws(() => canonicalJson({ a: [Number.NaN] }), 'NaN is refused');
});

void t.test('the record hash is SHA-256 of the previous hash and the canonical JSON of the record', async (t) => {
  // The body is built field by field for speed; it must stay the very text canonicalJson
  // gives for the whole record, or existing logs would stop verifying.
  fc.assert(
    fc.property(
      fc.record({
        seq: fc.nat(),
        ts: fc.integer({ min: 0, max: 4_102_444_800_000 }),
        type: fc.string(),
        actor: fc.string(),
        deviceId: fc.option(fc.string(), { nil: null }),
        sessionIds: fc.array(fc.string()),
        data: fc.dictionary(fc.string(), fc.jsonValue()),
      }),
      fc.stringMatching(/^[0-9a-f]{64}$/),
      (rec, prev) => eventHash(prev, rec) === createHash('sha256').update(`${prev}\n${canonicalJson(rec)}`).digest('hex'),
    ),
    { numRuns: 500, seed: 20261128 },
  );
  t.pass('500 random records hash as canonical JSON');
});

void t.test('appends form a hash chain from the genesis hash', async (t) => {
  const { store, events } = setup(t);
  const recs = await fill(events, 5);
  t.same(recs.map((r) => r.seq), [1, 2, 3, 4, 5]);
  t.equal(recs[0]?.prevHash, GENESIS_HASH);
  for (let i = 1; i < recs.length; i++) t.equal(recs[i]?.prevHash, recs[i - 1]?.hash, `record ${i + 1} links to ${i}`);
  for (const r of recs) {
    const { hash, prevHash, ...body } = r;
    t.equal(eventHash(prevHash, body), hash, `record ${r.seq} hash recomputes`);
    t.match(hash, /^[0-9a-f]{64}$/);
  }
  t.same(recs[2]?.sessionIds, ['s-1', 's-2'], 'session ids deduplicated and sorted');
  t.same(new Set(recs.map((r) => r.hash)).size, 5, 'distinct hashes');
  t.equal(events.count(), 5);
  const head = store.db.prepare("SELECT value FROM meta WHERE key = 'chain.head'").get() as { value: string };
  t.equal(head.value, `5:${recs[4]?.hash}`, 'the head is kept in meta');
  t.same(verifyChain(store), { ok: true, records: 5, head: recs[4]?.hash });
  // A new EventLog on the same store continues the chain.
  const again = new EventLog(store, () => 1);
  const six = await again.append({ type: 'test.e6', actor: 'hub' });
  t.equal(six.seq, 6);
  t.equal(six.prevHash, recs[4]?.hash);
  t.match(verifyChain(store), { ok: true, records: 6 });
});

void t.test('an empty log verifies', async (t) => {
  const { store } = setup(t);
  t.same(verifyChain(store), { ok: true, records: 0, head: GENESIS_HASH });
});

void t.test('query filters by device, session, type, since and afterSeq', async (t) => {
  let now = 1_000;
  const { events } = setup(t, () => now);
  for (let i = 1; i <= 6; i++) {
    now = i * 1_000;
    await events.append({ type: i % 3 === 0 ? 'x.three' : 'x.other', actor: 'hub', deviceId: i % 2 ? 'door-1' : 'gate-1', sessionIds: i <= 2 ? ['s-1'] : [] });
  }
  t.same(events.query({ deviceId: 'door-1' }).map((e) => e.seq), [1, 3, 5]);
  t.same(events.query({ sessionId: 's-1' }).map((e) => e.seq), [1, 2]);
  t.same(events.query({ type: 'x.three' }).map((e) => e.seq), [3, 6]);
  t.same(events.query({ since: 4_000 }).map((e) => e.seq), [4, 5, 6]);
  t.same(events.query({ afterSeq: 4 }).map((e) => e.seq), [5, 6]);
  t.same(events.query({ deviceId: 'gate-1', since: 3_000, limit: 1 }).map((e) => e.seq), [4]);
  t.same(events.query({ latest: true, limit: 2 }).map((e) => e.seq), [5, 6], 'the last two, oldest first');
  t.same(events.query({ deviceId: 'door-1', latest: true, limit: 2 }).map((e) => e.seq), [3, 5]);
});

void t.test('verifyChain names the first bad record', async (t) => {
  const cases: { name: string; tamper: (s: Store) => void; seq: number; reason: RegExp }[] = [
    {
      name: 'a data field changed',
      tamper: (s) => s.db.prepare("UPDATE events SET data = json_set(data, '$.i', 99) WHERE seq = 4").run(),
      seq: 4,
      reason: /content does not match its hash/,
    },
    {
      name: 'the type changed',
      tamper: (s) => s.db.prepare("UPDATE events SET type = 'test.other' WHERE seq = 2").run(),
      seq: 2,
      reason: /content does not match/,
    },
    {
      name: 'a middle record deleted',
      tamper: (s) => s.db.prepare('DELETE FROM events WHERE seq = 3').run(),
      seq: 3,
      reason: /record 3 is missing/,
    },
    {
      name: 'the last record deleted',
      tamper: (s) => s.db.prepare('DELETE FROM events WHERE seq = 6').run(),
      seq: 6,
      reason: /removed from the end/,
    },
    {
      name: 'two records swapped',
      tamper: (s) => {
        const cols = 'ts, type, device_id, actor, sessions, data, prev_hash, hash';
        const r2 = s.db.prepare(`SELECT ${cols} FROM events WHERE seq = 2`).get() as Record<string, unknown>;
        const r5 = s.db.prepare(`SELECT ${cols} FROM events WHERE seq = 5`).get() as Record<string, unknown>;
        const set = s.db.prepare('UPDATE events SET ts = @ts, type = @type, device_id = @device_id, actor = @actor, sessions = @sessions, data = @data, prev_hash = @prev_hash, hash = @hash WHERE seq = @seq');
        s.db.transaction(() => {
          set.run({ ...r5, seq: 2 });
          set.run({ ...r2, seq: 5 });
        })();
      },
      seq: 2,
      reason: /previous-hash does not match/,
    },
    {
      name: 'a record rewritten with a recomputed own hash',
      tamper: (s) => {
        const row = s.db.prepare('SELECT * FROM events WHERE seq = 2').get() as { seq: number; ts: number; type: string; actor: string; device_id: string | null; sessions: string; data: string; prev_hash: string };
        const data = { ...(JSON.parse(row.data) as Record<string, unknown>), i: 42 };
        const hash = eventHash(row.prev_hash, { seq: row.seq, ts: row.ts, type: row.type, actor: row.actor, deviceId: row.device_id, sessionIds: JSON.parse(row.sessions) as string[], data });
        s.db.prepare('UPDATE events SET data = ?, hash = ? WHERE seq = 2').run(canonicalJson(data), hash);
      },
      // Its stored Merkle leaf names record 2 itself (the chain alone would only notice at 3).
      seq: 2,
      reason: /stored Merkle leaf hash does not match/,
    },
    {
      name: 'a session link removed',
      tamper: (s) => s.db.prepare("DELETE FROM event_sessions WHERE seq = 3 AND session_id = 's-2'").run(),
      seq: 3,
      reason: /session links/,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const { store, events } = setup(t);
      await fill(events, 6);
      t.match(verifyChain(store), { ok: true, records: 6 }, 'intact before');
      c.tamper(store);
      const r = verifyChain(store);
      t.equal(r.ok, false);
      if (!r.ok) {
        t.equal(r.firstBad.seq, c.seq, 'first bad record');
        t.match(r.firstBad.reason, c.reason);
      }
    });
  }
});

void t.test('onAppended listeners hear committed records only, after the commit', async (t) => {
  const { store, events } = setup(t);
  const heard: { seq: number; type: string; committed: boolean }[] = [];
  events.onAppended((e) => {
    const row = store.db.prepare('SELECT type FROM events WHERE seq = ?').get(e.seq) as { type: string } | undefined;
    heard.push({ seq: e.seq, type: e.type, committed: row?.type === e.type });
  });
  const ok1 = events.append({ type: 'test.kept-1', actor: 'hub' });
  const doomed = store.write(() => {
    events.appendInTx({ type: 'test.rolled-back', actor: 'hub' });
    throw new Error('rolled back');
  });
  const ok2 = events.append({ type: 'test.kept-2', actor: 'hub' });
  await Promise.allSettled([ok1, doomed, ok2]);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.ok(heard.every((h) => h.committed), 'every record heard is in the store');
  t.same(
    heard.map((h) => h.type),
    ['test.kept-1', 'test.kept-2'],
    'a record whose write was rolled back is never announced',
  );
});
