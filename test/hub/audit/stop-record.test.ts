import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { startTestHub, tempDir } from '../../helpers/hub.js';
import { latestCheckpoint } from '../../../hub/audit/checkpoints.js';

void t.test('hub.stopped is the last record, after what features write while they stop; the final checkpoint covers it all', async (t) => {
  const tmp = tempDir('fh-stop-record-');
  t.teardown(tmp.cleanup);
  const th = await startTestHub({
    full: true,
    dataDir: tmp.dir,
    beforeStart: (hub) => {
      // A feature whose stop still writes (as the door's does for a lock it could not confirm).
      hub.addFeature({
        name: 'last-words',
        start: () => Promise.resolve(),
        stop: async () => {
          await hub.events.append({ type: 'test.last-words', actor: 'hub' });
        },
      });
    },
  });
  await th.hub.stop('test');
  const db = new Database(join(tmp.dir, 'hub.sqlite'), { readonly: true });
  t.teardown(() => db.close());
  const types = (db.prepare('SELECT type FROM events ORDER BY seq').all() as { type: string }[]).map((r) => r.type);
  t.equal(types.at(-1), 'hub.stopped', 'the stop is the last record');
  t.equal(types.at(-2), 'test.last-words', "the feature's last record comes before it");
  t.equal(types.filter((x) => x === 'hub.stopped').length, 1, 'recorded once');
  const cp = latestCheckpoint(db);
  t.equal(cp?.size, types.length, 'the final checkpoint covers every record, hub.stopped included');
});
