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
];
