import type { Actor } from '../../kernel/actor.js';
import type { Clock } from '../../kernel/clock.js';
import { HubError } from '../errors.js';
import { newToken, sameDigest, sha256 } from '../secrets.js';
import type { EventLog } from '../store/events.js';
import type { Store } from '../store/store.js';
import { mosquittoHash } from '../broker/mosquitto-hash.js';
import { filterCovered, patternProblems, readsVerify, reservedTopic, topicMatches } from './patterns.js';

/** Integration names: like device ids, so `integration.NAME` is a safe MQTT username. */
export const INTEGRATION_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
const NAME_RE = new RegExp(INTEGRATION_NAME_PATTERN);
/**
 * MQTT usernames of integration accounts: `integration.NAME`. A `.` is never in a device id
 * (`[a-z0-9-]`), so an integration never passes for a device; not `:`, which Mosquitto's
 * password file cannot hold in a user name (export mosquitto writes the same names).
 */
export const INTEGRATION_USER_PREFIX = 'integration.';
/** Patterns per list, and the description's length. */
export const MAX_PATTERNS = 32;
export const MAX_DESCRIPTION = 200;

const PREFIX = 'sha256$';

export interface IntegrationInfo {
  name: string;
  description: string;
  subscribe: string[];
  publish: string[];
  createdAt: number;
  rotatedAt: number | null;
  disabledAt: number | null;
}

export interface IntegrationInput {
  name: string;
  description?: string;
  subscribe?: string[];
  publish?: string[];
}

interface Row {
  name: string;
  description: string;
  token_hash: string;
  mosquitto_hash: string;
  subscribe: string;
  publish: string;
  created_at: number;
  rotated_at: number | null;
  disabled_at: number | null;
}

export interface IntegrationDeps {
  store: Store;
  clock: Clock;
  events: EventLog;
  site: string;
  /** The MQTT device ids of the config (a publish pattern must not reach theirs). */
  deviceIds: readonly string[];
}

function invalid(field: string, message: string, problems?: { field: string; message: string }[]): HubError {
  return new HubError('HUB_ERR_VALIDATION', [message], { field, ...(problems ? { problems } : {}) });
}

const view = (r: Row): IntegrationInfo => ({
  name: r.name,
  description: r.description,
  subscribe: JSON.parse(r.subscribe) as string[],
  publish: JSON.parse(r.publish) as string[],
  createdAt: r.created_at,
  rotatedAt: r.rotated_at,
  disabledAt: r.disabled_at,
});

/**
 * Integration accounts: named MQTT accounts of other systems on site (building management,
 * the video platform), each with its own token and topic patterns, deny by default. Tokens
 * are 256 random bits kept as SHA-256 (a wrong one costs one hash, as for devices) plus
 * Mosquitto's hash for the export. Every change is an event naming who made it.
 * A disabled account stays (its name is never reused, so the log keeps one meaning for it).
 */
export class IntegrationAccounts {
  /** Called after a rotation or a disabling, so that live connections are closed at once. */
  onRevoked: () => void = () => {};

  constructor(private readonly deps: IntegrationDeps) {}

  static username(name: string): string {
    return `${INTEGRATION_USER_PREFIX}${name}`;
  }

  /** The account name of an MQTT username, or null when it is not an integration's. */
  static nameOf(username: string): string | null {
    if (!username.startsWith(INTEGRATION_USER_PREFIX)) return null;
    const name = username.slice(INTEGRATION_USER_PREFIX.length);
    return NAME_RE.test(name) ? name : null;
  }

  /** Checks the input (every problem at once) and creates the account; the token is answered once. */
  async add(input: IntegrationInput, by: Actor): Promise<{ account: IntegrationInfo; token: string }> {
    const subscribe = input.subscribe ?? [];
    const publish = input.publish ?? [];
    const description = input.description ?? '';
    const problems: { field: string; message: string }[] = [];
    if (!NAME_RE.test(input.name)) problems.push({ field: 'name', message: `name "${input.name}": 应为小写字母、数字和“-”，最长 63 / must be lower-case letters, digits and "-", at most 63, starting with a letter or digit` });
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(description)) problems.push({ field: 'description', message: 'description: 不能含控制字符（换行、制表符等）/ must not contain control characters (line breaks, tabs)' });
    if (description.length > MAX_DESCRIPTION) problems.push({ field: 'description', message: `description: 最长 ${MAX_DESCRIPTION} 个字符 / at most ${MAX_DESCRIPTION} characters` });
    if (subscribe.length === 0 && publish.length === 0) problems.push({ field: 'subscribe', message: 'subscribe: 至少给出一个订阅或发布主题 / give at least one subscribe or publish pattern (an account that may do nothing is useless)' });
    if (subscribe.length > MAX_PATTERNS) problems.push({ field: 'subscribe', message: `subscribe: 最多 ${MAX_PATTERNS} 个 / at most ${MAX_PATTERNS} patterns` });
    if (publish.length > MAX_PATTERNS) problems.push({ field: 'publish', message: `publish: 最多 ${MAX_PATTERNS} 个 / at most ${MAX_PATTERNS} patterns` });
    problems.push(...patternProblems(this.deps.site, this.deps.deviceIds, subscribe, publish));
    if (problems.length > 0) throw invalid(problems[0]!.field, problems.map((p) => p.message).join('; '), problems);
    if (this.row(input.name)) throw new HubError('HUB_ERR_CONFLICT', [`集成账号 ${input.name} 已存在 / integration ${input.name} already exists (a disabled name is not reused)`], { field: 'name' });
    const token = newToken('fhi');
    const now = this.deps.clock.now();
    await this.deps.store.write(() => {
      this.deps.store
        .stmt('INSERT INTO integrations (name, description, token_hash, mosquitto_hash, subscribe, publish, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(input.name, description, PREFIX + sha256(token), mosquittoHash(token), JSON.stringify(subscribe), JSON.stringify(publish), now);
      this.deps.events.appendInTx({ type: 'integration.created', actor: by, data: { name: input.name, subscribe, publish } });
    });
    return { account: this.info(input.name)!, token };
  }

  /** A new token; connections admitted under the old one are closed. */
  async rotate(name: string, by: Actor): Promise<{ account: IntegrationInfo; token: string }> {
    const row = this.enabledRow(name);
    const token = newToken('fhi');
    await this.deps.store.write(() => {
      this.deps.store.stmt('UPDATE integrations SET token_hash = ?, mosquitto_hash = ?, rotated_at = ? WHERE name = ?').run(PREFIX + sha256(token), mosquittoHash(token), this.deps.clock.now(), row.name);
      this.deps.events.appendInTx({ type: 'integration.rotated', actor: by, data: { name } });
    });
    this.onRevoked();
    return { account: this.info(name)!, token };
  }

  /** Disables the account for good; its live connections are closed. */
  async disable(name: string, by: Actor): Promise<IntegrationInfo> {
    const row = this.enabledRow(name);
    await this.deps.store.write(() => {
      this.deps.store.stmt('UPDATE integrations SET disabled_at = ? WHERE name = ?').run(this.deps.clock.now(), row.name);
      this.deps.events.appendInTx({ type: 'integration.disabled', actor: by, data: { name } });
    });
    this.onRevoked();
    return this.info(name)!;
  }

  list(): IntegrationInfo[] {
    return (this.deps.store.stmt('SELECT * FROM integrations ORDER BY name').all() as Row[]).map(view);
  }

  info(name: string): IntegrationInfo | null {
    const row = this.row(name);
    return row ? view(row) : null;
  }

  /** The stored hash the token matched (the token's version), or null (unknown, disabled, wrong). */
  check(name: string, token: string): string | null {
    const row = this.row(name);
    if (!row || row.disabled_at !== null) return null;
    return sameDigest(row.token_hash, PREFIX + sha256(token)) ? row.token_hash : null;
  }

  /** The current token version of every enabled account, by name (for closing revoked connections). */
  current(): Map<string, string> {
    const rows = this.deps.store.stmt('SELECT name, token_hash FROM integrations WHERE disabled_at IS NULL').all() as { name: string; token_hash: string }[];
    return new Map(rows.map((r) => [r.name, r.token_hash]));
  }

  /** May this enabled account publish on `topic`? Never into a device's or the hub's tree. */
  mayPublish(name: string, topic: string, isDevice: (id: string) => boolean): boolean {
    const row = this.row(name);
    if (!row || row.disabled_at !== null) return false;
    if (reservedTopic(this.deps.site, isDevice, topic)) return false;
    return (JSON.parse(row.publish) as string[]).some((p) => topicMatches(p, topic));
  }

  /** May this enabled account subscribe to `filter`? Only within one of its patterns, and never to a gate's verify messages. */
  maySubscribe(name: string, filter: string): boolean {
    const row = this.row(name);
    if (!row || row.disabled_at !== null) return false;
    if (readsVerify(this.deps.site, this.deps.deviceIds, filter)) return false;
    return (JSON.parse(row.subscribe) as string[]).some((p) => filterCovered(p, filter));
  }

  /** Enabled accounts with their Mosquitto hashes (export mosquitto). */
  forExport(): { name: string; mosquittoHash: string; subscribe: string[]; publish: string[] }[] {
    return (this.deps.store.stmt('SELECT * FROM integrations WHERE disabled_at IS NULL ORDER BY name').all() as Row[]).map((r) => ({ ...view(r), mosquittoHash: r.mosquitto_hash }));
  }

  private enabledRow(name: string): Row {
    const row = this.row(name);
    if (!row) throw new HubError('HUB_ERR_NOT_FOUND', [`integration ${name}`]);
    if (row.disabled_at !== null) throw new HubError('HUB_ERR_CONFLICT', [`集成账号 ${name} 已停用 / integration ${name} is disabled`], { field: 'name' });
    return row;
  }

  private row(name: string): Row | undefined {
    return this.deps.store.stmt('SELECT * FROM integrations WHERE name = ?').get(name) as Row | undefined;
  }
}
