import t from 'tap';
import { Store } from '../../../hub/store/store.js';
import { silentLogger } from '../../../hub/log.js';
import { SeatBook } from '../../../hub/checkin/seat-book.js';
import { tempDir } from '../../helpers/hub.js';

const PASSAGE_MS = 120_000;

function setup(t: { teardown(fn: () => unknown): void }): { store: Store; book: SeatBook } {
  const tmp = tempDir('fh-seats-');
  const store = new Store({ dataDir: tmp.dir, log: silentLogger() });
  t.teardown(async () => {
    await store.close();
    tmp.cleanup();
  });
  const session = store.db.prepare("INSERT INTO sessions (id, code, name, start, end, rooms, opens_minutes, status, created_at, created_by) VALUES (?, ?, 'x', 0, 1, '[]', 60, ?, 0, 'hub')");
  session.run('s-open', 'A', 'check-in');
  session.run('s-closed', 'B', 'closed');
  const checkin = store.db.prepare('INSERT INTO checkins (request_id, session_id, id_hash, gate_id, room, seat, status, granted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  checkin.run('r-granted', 's-open', 'h1', 'gate-1', 'room-1', 1, 'granted', 1_000);
  checkin.run('r-inside', 's-open', 'h2', 'gate-1', 'room-2', 1, 'inside', 1_000);
  checkin.run('r-left', 's-open', 'h3', 'gate-1', 'room-3', 1, 'left', 1_000);
  checkin.run('r-expired', 's-open', 'h4', 'gate-1', 'room-4', 1, 'expired', 1_000);
  checkin.run('r-superseded', 's-open', 'h5', 'gate-1', 'room-5', 1, 'superseded', 1_000);
  checkin.run('r-other', 's-closed', 'h6', 'gate-1', 'room-6', 1, 'inside', 1_000);
  return { store, book: new SeatBook(store, PASSAGE_MS) };
}

const rooms = (book: SeatBook, now: number): string[] => book.held(now).map((h) => h.room).sort();

void t.test('loads the held seats from the store: granted, inside and left of sessions not closed', async (t) => {
  const { book } = setup(t);
  t.same(rooms(book, 1_000), ['room-1', 'room-2', 'room-3']);
  t.same(rooms(book, 1_000 + PASSAGE_MS), ['room-1', 'room-2', 'room-3'], 'a grant holds its seat up to the passage timeout');
  t.same(rooms(book, 1_001 + PASSAGE_MS), ['room-2', 'room-3'], 'then it lapses, before any sweep');
});

void t.test('grants, passages and releases update it in place', async (t) => {
  const { book } = setup(t);
  book.took('r-new', { sessionId: 's-open', room: 'room-7', seat: 2 }, 5_000);
  book.took('r-offline', { sessionId: 's-open', room: 'room-8', seat: 1 }, null);
  t.same(rooms(book, 5_000), ['room-1', 'room-2', 'room-3', 'room-7', 'room-8']);
  book.passed('r-new');
  book.passed('r-unknown');
  t.same(rooms(book, 10_000_000), ['room-2', 'room-3', 'room-7', 'room-8'], 'walked through: no longer lapses; an offline pass never did');
  book.released('r-granted');
  t.same(rooms(book, 5_000), ['room-2', 'room-3', 'room-7', 'room-8'], 'a released grant frees its seat');
  book.released('r-left');
  t.same(rooms(book, 5_000), ['room-2', 'room-3', 'room-7', 'room-8'], 'a seat walked through to is held until its session closes');
});

void t.test('re-entries to one seat are kept once: what a grant scans is bounded by the seats', async (t) => {
  const { book } = setup(t);
  for (let i = 0; i < 50; i++) {
    book.took(`r-again-${i}`, { sessionId: 's-open', room: 'room-2', seat: 1 }, 2_000 + i);
    book.passed(`r-again-${i}`);
  }
  t.same(rooms(book, 10_000), ['room-1', 'room-2', 'room-3'], 'room-2 seat 1 once, however many times it was entered');
  book.took('r-pending', { sessionId: 's-open', room: 'room-2', seat: 1 }, 10_000);
  t.same(rooms(book, 10_000), ['room-1', 'room-2', 'room-2', 'room-3'], 'a grant awaiting passage is listed with it until it is walked through');
  book.passed('r-pending');
  t.same(rooms(book, 10_000), ['room-1', 'room-2', 'room-3']);
});

void t.test('a rollback or an invalidation reloads it from what the store holds', async (t) => {
  const { store, book } = setup(t);
  await t.rejects(
    store.write(() => {
      store.db.prepare("UPDATE checkins SET status = 'expired' WHERE request_id = 'r-granted'").run();
      book.released('r-granted');
      throw new Error('refused');
    }),
  );
  t.same(rooms(book, 1_000), ['room-1', 'room-2', 'room-3'], 'the rolled-back release is undone');
  store.db.prepare("UPDATE sessions SET status = 'closed' WHERE id = 's-open'").run();
  t.same(rooms(book, 1_000), ['room-1', 'room-2', 'room-3'], 'a change elsewhere is not seen until invalidated');
  book.invalidate();
  t.same(rooms(book, 1_000), [], 'a closed session holds nothing');
});
