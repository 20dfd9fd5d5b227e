import type { Bus } from '../kernel/bus.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import type { Facility } from '../config/schema.js';
import type { Device } from '../devices/types.js';
import type { HubEvents } from './events.js';
import type { Store } from './store/store.js';
import type { EventLog } from './store/events.js';
import type { Sessions } from './sessions/sessions.js';
import type { Availability } from './availability.js';
import type { CommandLedger } from './commands.js';
import type { Ingest } from './ingest.js';
import type { RoutePlugin } from './api/types.js';
import type { ActiveAlarms } from './alarms.js';
import type { Metrics } from './metrics.js';
import type { IntegrationAccounts } from './integrations/accounts.js';

/**
 * Everything the composition root can lend a feature. A feature never receives the Hub:
 * it declares the few of these it uses (`Pick<HubServices, …>`), and compose.ts hands them
 * over, so what a feature depends on is written in its signature.
 */
export interface HubServices {
  facility: Facility;
  dataDir: string;
  /** Where relative file paths in the config start (the facility file's directory). */
  configDir: string;
  clock: Clock;
  log: Logger;
  bus: Bus<HubEvents>;
  store: Store;
  events: EventLog;
  sessions: Sessions;
  availability: Availability;
  commands: CommandLedger;
  /** Routes device messages to the feature that answers them (check-in's verify). */
  ingest: Ingest;
  /** The alarms active now (read them; raise and clear through the bus). */
  alarms: ActiveAlarms;
  /** The hub's Prometheus registry and metrics. */
  metrics: Metrics;
  /** The device models, by id (read-only: the hub creates them). */
  devices: ReadonlyMap<string, Device>;
  /** Publishes on the hub's MQTT broker. */
  publish(topic: string, payload: unknown, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** The retained `fh/{site}/hub/{name}` state. */
  publishHubState(name: string, payload: unknown): Promise<void>;
  /** Every session in check-in or in progress (for facility-wide events such as power). */
  runningSessions(): string[];
  /** Stops the whole hub (the power playbook's last stage). */
  stopHub(reason: string): Promise<void>;
  /** MQTT accounts of other systems on site (hub/integrations). */
  integrations: IntegrationAccounts;
}

/** A hub feature (check-in, power, broadcast) wired in by the composition root. */
export interface Feature {
  name: string;
  routes?: RoutePlugin;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Runs once every feature has stopped and the hub's `hub.stopped` record is written, while
   * the broker is still up: the audit's final checkpoint, which must cover everything the
   * run wrote (the features' own last records included).
   */
  afterStop?(): Promise<void>;
}
