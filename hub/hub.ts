import { randomBytes } from 'node:crypto';
import { lockDataDir } from './data-lock.js';
import { Bus } from '../kernel/bus.js';
import { systemClock, type Clock } from '../kernel/clock.js';
import type { HubEvents } from './events.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { Store } from './store/store.js';
import { EventLog } from './store/events.js';
import { Users } from './users.js';
import { DeviceTokens } from './broker/tokens.js';
import { BurstCompactor, exposeGc } from './broker/compactor.js';
import { DEFAULT_LIMITS, EmbeddedBroker, type BrokerLimits } from './broker/broker.js';
import { hubAccountUsername, readHubAccountToken } from './broker/hub-account.js';
import { ExternalBroker, loadExternalSettings, safeUrl, type ExternalBrokerSettings } from './broker/external.js';
import type { BrokerPort } from './broker/port.js';
import { Availability } from './availability.js';
import { CommandLedger } from './commands.js';
import { Ingest } from './ingest.js';
import { buildApp } from './api/app.js';
import type { Api } from './api/types.js';
import type { Feature, HubServices } from './services.js';
import type { Facility } from '../config/schema.js';
import type { Device, DeviceContext, DeviceDriver, MqttDriver } from '../devices/types.js';
import { HubLines, type LineOptions } from './lines.js';
import { KIND_FACTORIES } from '../devices/registry.js';
import { Sessions } from './sessions/sessions.js';
import { ActiveAlarms } from './alarms.js';
import { ConnectThrottle } from './broker/throttle.js';
import { IntegrationAccounts } from './integrations/accounts.js';
import type { ThrottlePolicy } from './throttle.js';
import type { LoginThrottlePolicy } from './api/auth.js';
import { checkDeviceCertificate, listenMqttTls, loadTls, type TlsSetup } from './tls.js';
import type { Server as TlsServer } from 'node:tls';

/** How often connections are checked against the current device tokens (5 s). */
const TOKEN_CHECK_MS = 5_000;
/** The stop step that writes `hub.stopped` and runs the features' afterStop hooks. */
const STOP_RECORD = 'stop record';

export interface HubOptions {
  facility: Facility;
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  /** Bind addresses; default: the config's `http.host` / `mqtt.host` (loopback unless it says otherwise). */
  httpHost?: string;
  mqttHost?: string;
  /** The MQTT-over-TLS port when the config has `mqtt.tls` (default: its `port`; 0 = any free one, for tests). */
  mqttTlsPort?: number;
  /** Where relative certificate paths in the config start (the facility file's directory; default: the working directory). */
  configDir?: string;
  /** Login and MQTT CONNECT throttling; defaults in api/auth.ts and broker/throttle.ts. */
  loginThrottle?: LoginThrottlePolicy;
  connectThrottle?: ThrottlePolicy;
  clock?: Clock;
  log?: Logger;
  /** The first start of a data dir creates `admin` with this password, or a generated one. */
  adminPassword?: string;
  /** Told the generated admin password once (the CLI prints it). */
  onGeneratedAdminPassword?: (password: string) => void;
  brokerLimits?: Partial<BrokerLimits>;
  commandDefaults?: { timeoutMs?: number; retries?: number };
  /** Options of the hub-owned lines (reconnect backoff, a fake GPIO input in tests). */
  lines?: LineOptions;
  /** Stops start-up between steps (SIGTERM during start). */
  signal?: AbortSignal;
  /**
   * External broker mode (the config's `mqtt.external`): the hub's broker password
   * (default: FH_MQTT_PASSWORD, or the config's passwordFile) and the reconnect timings.
   */
  externalBroker?: { password?: string; reconnectMinMs?: number; reconnectMaxMs?: number; firstConnectMs?: number };
}


/**
 * The one composition root (style pattern 1): builds store, bus, broker, devices,
 * features and the HTTP server, starts them in order and stops them in reverse.
 */
export class Hub {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics = new Metrics();
  readonly facility: Facility;
  readonly store: Store;
  readonly events: EventLog;
  readonly users: Users;
  readonly tokens: DeviceTokens;
  /** MQTT accounts of other systems on site (hub/integrations). */
  readonly integrations: IntegrationAccounts;
  readonly bus: Bus<HubEvents>;
  readonly availability: Availability;
  readonly alarms: ActiveAlarms;
  readonly commands: CommandLedger;
  readonly devices = new Map<string, Device>();
  /** The embedded aedes, or the client of an external broker (`mqtt.external`). */
  readonly broker: BrokerPort;
  private readonly embedded: EmbeddedBroker | null = null;
  private readonly external: ExternalBroker | null = null;
  readonly ingest: Ingest;
  readonly features: Feature[] = [];
  readonly sessions: Sessions;
  /** Every physical line (Modbus, NUT, GPIO, the PA link), owned here and lent to devices. */
  readonly lines: HubLines;
  private app: Api | null = null;
  private readonly tls: TlsSetup;
  private ready = false;
  private stopped = false;
  private stopReason = 'stop';
  private readonly stops: { name: string; fn: () => Promise<void> | void }[] = [];
  private stoppedResolve!: () => void;
  /** Resolves once the hub has stopped, whoever stopped it (a signal, or the power playbook). */
  readonly whenStopped = new Promise<void>((resolve) => {
    this.stoppedResolve = resolve;
  });
  httpPort = 0;
  mqttPort = 0;
  /** The MQTT-over-TLS port, 0 when the config has no `mqtt.tls`. */
  mqttTlsPort = 0;
  readonly dataDir: string;

  constructor(private readonly opts: HubOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? createLogger();
    this.facility = opts.facility;
    this.dataDir = opts.dataDir;
    if (this.facility.mqtt.external && this.facility.mqtt.tls) throw new Error("mqtt.tls: not used with mqtt.external (external broker mode): the hub listens on no MQTT port; TLS is the broker's (docs/deploy.md)");
    // Certificates are read before anything opens: a missing key file fails here, leaving nothing to stop.
    this.tls = loadTls(this.facility, opts.configDir ?? process.cwd());
    this.store = new Store({ dataDir: opts.dataDir, log: this.log.child({ module: 'store' }), backgroundCheckpoints: true, walSyncOffLoop: true });
    this.events = new EventLog(this.store, () => this.clock.now());
    this.users = new Users(this.store, this.clock, this.events);
    this.tokens = new DeviceTokens(this.store, this.clock);
    this.bus = new Bus<HubEvents>(this.log.child({ module: 'bus' }));
    this.alarms = new ActiveAlarms({ bus: this.bus, events: this.events, clock: this.clock, log: this.log.child({ module: 'alarms' }) });
    this.availability = new Availability({
      facility: this.facility,
      store: this.store,
      events: this.events,
      bus: this.bus,
      clock: this.clock,
      log: this.log.child({ module: 'devices' }),
      metrics: this.metrics,
      sessionsFor: (id) => this.sessionsFor(id),
    });
    this.commands = new CommandLedger({
      store: this.store,
      events: this.events,
      clock: this.clock,
      log: this.log.child({ module: 'commands' }),
      metrics: this.metrics,
      bus: this.bus,
      defaults: {
        timeoutMs: opts.commandDefaults?.timeoutMs ?? this.facility.policy.commands.timeoutMs,
        retries: opts.commandDefaults?.retries ?? this.facility.policy.commands.retries,
      },
    });
    this.sessions = new Sessions({
      facility: this.facility,
      store: this.store,
      events: this.events,
      bus: this.bus,
      clock: this.clock,
      log: this.log.child({ module: 'sessions' }),
    });
    this.ingest = new Ingest({ availability: this.availability, commands: this.commands, devices: this.devices, log: this.log.child({ module: 'ingest' }) });
    const deviceIds = new Set(this.facility.devices.filter((d) => d.transport.type === 'mqtt').map((d) => d.id));
    this.integrations = new IntegrationAccounts({ store: this.store, clock: this.clock, events: this.events, site: this.facility.site.id, deviceIds: this.facility.devices.map((d) => d.id) });
    this.integrations.onRevoked = () => this.closeRevoked();
    const ext = this.facility.mqtt.external;
    if (ext) {
      // Files and the password are read here, before anything opens (as the TLS files above).
      const loaded = loadExternalSettings(this.facility.site.id, ext, opts.configDir ?? process.cwd(), process.env, { username: hubAccountUsername(this.facility.site.id), token: readHubAccountToken(this.dataDir) });
      const settings: ExternalBrokerSettings = { ...loaded, ...opts.externalBroker };
      this.external = new ExternalBroker(
        {
          site: this.facility.site.id,
          log: this.log.child({ module: 'broker' }),
          metrics: this.metrics,
          bus: this.bus,
          events: this.events,
          isDevice: (id) => deviceIds.has(id),
          onMessage: this.ingest.onMessage,
          // The device's link is its connection to the broker: up while it speaks through it.
          onSeen: (id) => this.availability.setLink(id, true, 'via the external broker'),
          maxPayloadBytes: opts.brokerLimits?.maxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes,
        },
        settings,
      );
      this.broker = this.external;
    } else {
      this.embedded = new EmbeddedBroker({
        site: this.facility.site.id,
        clock: this.clock,
        log: this.log.child({ module: 'broker' }),
        metrics: this.metrics,
        isDevice: (id) => deviceIds.has(id),
        checkToken: (id, token) => this.tokens.check(id, token),
        onMessage: this.ingest.onMessage,
        onConnect: (id) => this.availability.setLink(id, true, 'connected'),
        onDisconnect: (id) => this.availability.setLink(id, false, 'disconnected'),
        ...(opts.brokerLimits ? { limits: opts.brokerLimits } : {}),
        connectThrottle: new ConnectThrottle(this.log.child({ module: 'broker' }), this.clock, opts.connectThrottle),
        checkPeer: checkDeviceCertificate,
        compactor: new BurstCompactor({ clock: this.clock, gc: exposeGc(), log: this.log.child({ module: 'broker' }) }),
        integrations: {
          nameOf: (username) => IntegrationAccounts.nameOf(username),
          check: (name, token) => this.integrations.check(name, token),
          mayPublish: (name, topic) => this.integrations.mayPublish(name, topic, (id) => this.facility.devices.some((d) => d.id === id)),
          maySubscribe: (name, filter) => this.integrations.maySubscribe(name, filter),
          onRefused: (name, what, detail) => {
            this.events.append({ type: 'integration.refused', actor: `integration:${name}`, data: { name, what, ...detail } }).catch((err: unknown) => this.log.error({ err, integration: name }, 'could not log a refused integration message'));
          },
        },
      });
      this.broker = this.embedded;
    }
    const mqtt: MqttDriver = {
      publish: (deviceId, subtopic, payload) => this.broker.publish(`fh/${this.facility.site.id}/${deviceId}/${subtopic}`, payload, { qos: 1 }),
    };
    this.lines = new HubLines({ facility: this.facility, clock: this.clock, log: this.log, mqtt, ...(opts.lines ? { options: opts.lines } : {}) });
  }

  /** Which evaluation sessions a device serves now (by its rooms and zones). */
  sessionsFor(deviceId: string): string[] {
    return this.sessions.sessionsForDevice(deviceId);
  }

  /** Every session in check-in or in progress (for facility-wide events such as power). */
  runningSessions(): string[] {
    return this.sessions.active().map((s) => s.id);
  }

  /** What features may borrow; each takes the few it declares (see services.ts). */
  services(): HubServices {
    return {
      facility: this.facility,
      dataDir: this.dataDir,
      configDir: this.opts.configDir ?? process.cwd(),
      clock: this.clock,
      log: this.log,
      bus: this.bus,
      store: this.store,
      events: this.events,
      sessions: this.sessions,
      availability: this.availability,
      commands: this.commands,
      alarms: this.alarms,
      metrics: this.metrics,
      ingest: this.ingest,
      devices: this.devices,
      publish: (topic, payload, opts) => this.broker.publish(topic, payload, opts),
      publishHubState: (name, payload) => this.publishHubState(name, payload),
      runningSessions: () => this.runningSessions(),
      stopHub: (reason) => this.stop(reason),
      integrations: this.integrations,
    };
  }

  isReady(): boolean {
    return this.ready;
  }

  addFeature<F extends Feature>(feature: F): F {
    this.features.push(feature);
    return feature;
  }

  /** The MQTT topic of the hub's own facility-wide state. */
  hubTopic(name: string): string {
    return `fh/${this.facility.site.id}/hub/${name}`;
  }

  publishHubState(name: string, payload: unknown): Promise<void> {
    return this.broker.publish(this.hubTopic(name), payload, { qos: 1, retain: true });
  }

  deviceContext(deviceId: string, driver: DeviceDriver): DeviceContext {
    const config = this.facility.devices.find((d) => d.id === deviceId);
    if (!config) throw new Error(`unknown device ${deviceId}`);
    return {
      config,
      facility: this.facility,
      bus: this.bus,
      log: this.log.child({ device: deviceId }),
      clock: this.clock,
      driver,
      availability: this.availability,
      events: this.events,
      commands: this.commands,
      metrics: this.metrics,
      sessionsFor: (id) => this.sessionsFor(id),
    };
  }

  async start(): Promise<void> {
    const step = (name: string): void => {
      if (this.opts.signal?.aborted) throw new Error(`start-up aborted before ${name}`);
      this.log.debug({ step: name }, 'starting');
    };
    const tls = this.tls;
    step('store');
    this.stops.push({ name: 'store', fn: () => this.store.close() });
    // One hub per data dir (data-lock.ts); also what tells `facility-hub user …` that a hub
    // runs here. The CLI takes the same lock earlier, before its simulators bind: taking it
    // again from the same process keeps it.
    const lock = lockDataDir(this.dataDir);
    this.stops.push({ name: 'data dir lock', fn: () => lock.release() });
    this.ensureAdmin();
    await this.commands.abandonPending();
    await this.events.append({ type: 'hub.started', actor: 'hub', data: { site: this.facility.site.id, devices: this.facility.devices.length } });

    this.alarms.start();
    this.stops.push({ name: 'alarms', fn: () => this.alarms.stop() });

    step('sessions');
    await this.sessions.start();
    this.stops.push({ name: 'sessions', fn: () => this.sessions.stop() });

    step('devices');
    // Lines close after every device on them has stopped (stops run in reverse).
    this.stops.push({ name: 'lines', fn: () => this.lines.close() });
    this.createDevices();

    step('broker');
    if (this.external) await this.startExternal(this.external);
    else await this.startEmbedded(this.embedded!, tls);

    for (const device of this.devices.values()) {
      step(`device ${device.id}`);
      try {
        await device.start();
        this.stops.push({ name: `device ${device.id}`, fn: () => device.stop() });
      } catch (err) {
        // One device failing to start does not stop the others (style pattern 1).
        this.log.error({ err, deviceId: device.id }, 'device failed to start');
      }
    }

    // Pushed before the features, so it runs after all of them have stopped: whatever they
    // write while stopping (a door's last alarm) comes before `hub.stopped`, and the audit's
    // final checkpoint (its afterStop) covers all of it.
    const started: Feature[] = [];
    this.stops.push({
      name: STOP_RECORD,
      fn: async () => {
        await this.recordStop();
        for (const f of started.reverse()) await f.afterStop?.();
      },
    });
    for (const f of this.features) {
      step(`feature ${f.name}`);
      await f.start();
      started.push(f);
      this.stops.push({ name: `feature ${f.name}`, fn: () => f.stop() });
    }

    // External broker: the features that answer device messages are up; let them in.
    this.external?.resume();

    step('http');
    this.app = await buildApp({
      facility: this.facility,
      users: this.users,
      availability: this.availability,
      alarms: this.alarms,
      devices: this.devices,
      events: this.events,
      metrics: this.metrics,
      log: this.log,
      clock: this.clock,
      isReady: () => this.ready,
      routes: this.features.flatMap((f) => (f.routes ? [f.routes] : [])),
      ...(tls.https ? { https: tls.https } : {}),
      ...(this.opts.loginThrottle ? { loginThrottle: this.opts.loginThrottle } : {}),
    });
    const app = this.app;
    this.stops.push({ name: 'http', fn: () => app.close() });
    await app.listen({ port: this.opts.httpPort, host: this.opts.httpHost ?? this.facility.http.host });
    const addr = app.server.address();
    this.httpPort = typeof addr === 'object' && addr ? addr.port : this.opts.httpPort;
    this.ready = true;
    this.log.info({ http: this.httpPort, mqtt: this.mqttPort, site: this.facility.site.id }, 'hub ready');
  }

  /** Closes MQTT connections admitted under a token that is no longer current (devices and integrations). */
  closeRevoked(): void {
    try {
      this.broker.closeRevoked(this.tokens.current(), this.integrations.current());
    } catch (err) {
      this.log.error({ err }, 'token revocation check failed');
    }
  }

  /** The HTTP app, for tests that use inject. */
  api(): Api {
    if (!this.app) throw new Error('hub not started');
    return this.app;
  }

  /** Stops what started, in reverse; safe to call twice and after a failed start. */
  async stop(reason = 'stop'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ready = false;
    this.log.info({ reason }, 'hub stopping');
    this.stopReason = reason;
    // A start that failed before the features started has no stop-record step: the stop
    // is recorded first (if the store is open at all).
    if (!this.stops.some((s) => s.name === STOP_RECORD)) await this.recordStop();
    // Nothing waits out a device's command timeout while the hub goes down (hub/commands.ts).
    this.commands.stopWaiting();
    for (const s of this.stops.reverse()) {
      try {
        await s.fn();
      } catch (err) {
        this.log.error({ err, part: s.name }, 'stop step failed');
      }
    }
    this.stops.length = 0;
    this.stoppedResolve();
  }

  /** Appends `hub.stopped`, if the store was opened and migrated (once: from stop(), or its step). */
  private async recordStop(): Promise<void> {
    try {
      if (this.store.schemaVersion() > 0 && this.stops.some((s) => s.name === 'store')) {
        await this.events.append({ type: 'hub.stopped', actor: 'hub', data: { reason: this.stopReason } });
      }
    } catch (err) {
      this.log.error({ err }, 'could not log the stop');
    }
  }

  /** The embedded aedes: its plain listener, the TLS one, and the token revocation check. */
  private async startEmbedded(broker: EmbeddedBroker, tls: TlsSetup): Promise<void> {
    const mqttHost = this.opts.mqttHost ?? this.facility.mqtt.host;
    let tlsServer: TlsServer | null = null;
    // Registered before listening: a port that cannot be bound leaves aedes' timers running,
    // and a process whose failed start does not close them never exits. The TLS listener
    // closes after the broker has closed its clients (else it waits on them).
    this.stops.push({
      name: 'broker',
      fn: async () => {
        await broker.close();
        if (tlsServer) await new Promise<void>((done) => tlsServer!.close(() => done()));
      },
    });
    this.mqttPort = await broker.listen(this.opts.mqttPort, mqttHost);
    this.log.info({ host: mqttHost, port: this.mqttPort }, 'MQTT broker listening');
    if (tls.mqtt) {
      const listening = await listenMqttTls(tls.mqtt, this.opts.mqttTlsPort ?? tls.mqtt.port, (socket) => broker.handle(socket), this.log.child({ module: 'broker' }));
      tlsServer = listening.server;
      this.mqttTlsPort = listening.port;
      this.log.info({ host: tls.mqtt.host, port: this.mqttTlsPort, clientCerts: tls.mqtt.clientCerts }, 'MQTT over TLS listening');
    }
    // A token rotated while its device is connected (the CLI may do it from another
    // process) ends that connection within this period.
    const revocations = this.clock.setInterval(() => this.closeRevoked(), TOKEN_CHECK_MS);
    this.stops.push({ name: 'token revocation check', fn: () => revocations.cancel() });
    this.metrics.brokerConnected.set(1);
  }

  /**
   * External broker mode: connect (or go on degraded while the broker is away; the client
   * keeps trying). Messages are held, unacknowledged, until the features are started.
   */
  private async startExternal(broker: ExternalBroker): Promise<void> {
    this.stops.push({ name: 'broker', fn: () => broker.close() });
    await broker.connect();
    this.log.info({ url: safeUrl(this.facility.mqtt.external!.url), connected: broker.isConnected() }, 'MQTT: client of the external broker');
  }

  private ensureAdmin(): void {
    if (this.users.count() > 0) return;
    const given = this.opts.adminPassword;
    const password = given && given.length > 0 ? given : randomBytes(12).toString('base64url');
    this.users.createSync('admin', 'admin', password, 'Administrator');
    this.store.writeNow(() => this.events.appendInTx({ type: 'user.created', actor: 'hub', data: { username: 'admin', role: 'admin', passwordSource: given ? 'FH_ADMIN_PASSWORD' : 'generated' } }));
    if (!given) this.opts.onGeneratedAdminPassword?.(password);
  }

  private createDevices(): void {
    for (const config of this.facility.devices) {
      const factory = KIND_FACTORIES[config.kind];
      if (!factory) {
        this.log.error({ deviceId: config.id, kind: config.kind }, 'no model for this device kind');
        continue;
      }
      try {
        this.devices.set(config.id, factory(this.deviceContext(config.id, this.lines.driverFor(config))));
      } catch (err) {
        this.log.error({ err, deviceId: config.id }, 'device could not be created');
        this.availability.setLink(config.id, false, `not created: ${String(err)}`);
      }
    }
  }
}
