/**
 * Versioned schema migrations, applied in order inside one transaction each. A migration
 * is never edited once shipped: later changes are new entries.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'foundation',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        type TEXT NOT NULL,
        device_id TEXT,
        actor TEXT NOT NULL,
        sessions TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX events_device ON events (device_id, seq);
      CREATE INDEX events_type ON events (type, seq);
      CREATE TABLE event_sessions (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
      ) WITHOUT ROWID;
      CREATE TABLE device_tokens (
        device_id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        issued_at INTEGER NOT NULL
      );
      CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE api_tokens (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users (username),
        issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        online INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER,
        status TEXT,
        state TEXT,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        cmd TEXT NOT NULL,
        args TEXT NOT NULL,
        issuer TEXT NOT NULL,
        session_id TEXT,
        created_at INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        error TEXT,
        finished_at INTEGER
      );
      CREATE INDEX commands_pending ON commands (status) WHERE status = 'pending';
    `,
  },
  {
    version: 2,
    name: 'sessions and check-in',
    sql: `
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        rooms TEXT NOT NULL,
        opens_minutes INTEGER NOT NULL,
        expected_experts INTEGER,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        closed_at INTEGER,
        closed_by TEXT
      );
      CREATE TABLE roster (
        session_id TEXT NOT NULL REFERENCES sessions (id),
        id_hash TEXT NOT NULL,
        id_masked TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (session_id, id_hash)
      );
      CREATE INDEX roster_hash ON roster (id_hash);
      CREATE TABLE checkins (
        request_id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        id_hash TEXT NOT NULL,
        gate_id TEXT NOT NULL,
        room TEXT,
        seat INTEGER,
        status TEXT NOT NULL,
        offline INTEGER NOT NULL DEFAULT 0,
        granted_at INTEGER NOT NULL,
        passed_at INTEGER,
        left_at INTEGER
      );
      CREATE INDEX checkins_session ON checkins (session_id, status);
      CREATE INDEX checkins_person ON checkins (id_hash, status);
      CREATE TABLE allow_list (
        gate_id TEXT NOT NULL,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        gate_hash TEXT NOT NULL,
        id_hash TEXT NOT NULL,
        id_masked TEXT NOT NULL,
        PRIMARY KEY (gate_id, session_id, gate_hash)
      ) WITHOUT ROWID;
      CREATE TABLE verify_decisions (
        request_id TEXT PRIMARY KEY,
        gate_id TEXT NOT NULL,
        answer TEXT NOT NULL,
        decided_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'audit: Merkle tree and signed checkpoints',
    sql: `
      -- The RFC 6962 leaf hash of each record (filled in for older records at the next open).
      ALTER TABLE events ADD COLUMN leaf_hash TEXT;
      -- Completed inner subtrees: level >= 1, idx = the subtree's position at that level.
      CREATE TABLE merkle_nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (level, idx)
      ) WITHOUT ROWID;
      -- Signed checkpoints (c2sp.org/tlog-checkpoint), each the whole signed note.
      CREATE TABLE checkpoints (
        size INTEGER PRIMARY KEY,
        root TEXT NOT NULL,
        made_at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        note TEXT NOT NULL
      );
      -- A gate request is bound to its person (the keyed hash of the ID number as sent).
      ALTER TABLE verify_decisions ADD COLUMN id_hash TEXT;
    `,
  },
  {
    version: 4,
    name: 'offline allow-list: provisioned gate keys and slow per-person seeds',
    sql: `
      -- scrypt of the ID number (hub/checkin/allow-list.ts): what gate entries are keyed from,
      -- so that a rotated gate key can be applied without the clear number.
      ALTER TABLE roster ADD COLUMN allow_seed TEXT;
      CREATE TABLE gate_keys (
        gate_id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'announcements played',
    // What the announcement scheduler decided (played, skipped, missed), per session, so a
    // restart does not say "evaluation starts" again (hub/broadcast/announcements.ts).
    sql: `
      CREATE TABLE announcements_played (
        announcement TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (announcement, due_at, session_id)
      ) WITHOUT ROWID;
      CREATE INDEX announcements_played_due ON announcements_played (due_at);
    `,
  },
  {
    version: 6,
    name: 'IT health index samples',
    // One row per subsystem (and 'overall') per minute; kept 90 days (hub/health).
    sql: `
      CREATE TABLE health_index_samples (
        ts INTEGER NOT NULL,
        subsystem TEXT NOT NULL,
        score INTEGER,
        detail TEXT NOT NULL,
        PRIMARY KEY (subsystem, ts)
      ) WITHOUT ROWID;
      CREATE INDEX health_index_samples_ts ON health_index_samples (ts);
    `,
  },
  {
    version: 7,
    name: 'robot delivery tasks and per-session meal times',
    // hub/robot: one row per delivery task (its stops with what was delivered), and the meal
    // times a session has instead of the facility's (docs/robot.md).
    sql: `
      CREATE TABLE robot_tasks (
        id TEXT PRIMARY KEY,
        robot_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        -- Every session the task serves, as ',s-1,s-2,' (a meal run serves each session with experts in its room).
        sessions TEXT NOT NULL,
        door_id TEXT NOT NULL,
        stops TEXT NOT NULL,
        state TEXT NOT NULL,
        suspended_from TEXT,
        reason TEXT,
        source TEXT NOT NULL,
        meal TEXT,
        request TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX robot_tasks_session ON robot_tasks (session_id, created_at);
      CREATE INDEX robot_tasks_open ON robot_tasks (robot_id, state);
      CREATE TABLE robot_session_meals (
        session_id TEXT PRIMARY KEY,
        meals TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 8,
    name: 'uplink outbox',
    // Messages for the county platform, derived from the event log and the checkpoints
    // (hub/uplink/outbox.ts). AUTOINCREMENT: a seq is never reused, even after the rows
    // before it were acknowledged and deleted, so the receiver can deduplicate on it.
    sql: `
      CREATE TABLE uplink_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 9,
    name: 'integration accounts, Mosquitto password hashes',
    // Named MQTT accounts of other systems on site (hub/integrations); the `$7$` hash of
    // every token issued from now on, for `facility-hub export mosquitto` (hub/broker/mosquitto-hash.ts).
    // Patterns are JSON arrays of MQTT filters. broker_accounts holds the hub's own account.
    sql: `
      ALTER TABLE device_tokens ADD COLUMN mosquitto_hash TEXT;
      CREATE TABLE integrations (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        mosquitto_hash TEXT NOT NULL,
        subscribe TEXT NOT NULL,
        publish TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        rotated_at INTEGER,
        disabled_at INTEGER
      );
      CREATE TABLE broker_accounts (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL,
        mosquitto_hash TEXT NOT NULL,
        issued_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 10,
    name: 'check-in indexes for the seat lookup and the grant sweep',
    // checkins only grows (every passage of every day): the seat-holder lookup of each
    // decision (room, seat) and the 5-s sweep of unused grants scanned all of it.
    sql: `
      CREATE INDEX checkins_seat ON checkins (room, seat, status);
      CREATE INDEX checkins_granted ON checkins (granted_at) WHERE status = 'granted';
    `,
  },
];
