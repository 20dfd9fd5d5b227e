import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The facility file's format: one schema, defaults included, unknown keys refused
 * (`additionalProperties: false` everywhere). Transports and per-kind device options are
 * validated by their own schemas chosen by `transport.type` and `kind`, so each error
 * points into the right sub-object instead of an unreadable union failure.
 */

const Id = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', maxLength: 64, description: 'lower-case id' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const strict = { additionalProperties: false } as const;

export const TRANSPORT_TYPES = ['mqtt', 'modbus-tcp', 'modbus-rtu', 'serial', 'tcp', 'nut', 'gpio'] as const;
export type TransportType = (typeof TRANSPORT_TYPES)[number];

const SerialLine = {
  path: Type.String({ minLength: 1 }),
  baudRate: Type.Integer({ minimum: 300, maximum: 921600, default: 9600 }),
  parity: Type.Union([Type.Literal('none'), Type.Literal('even'), Type.Literal('odd')], { default: 'none' }),
  dataBits: Type.Union([Type.Literal(7), Type.Literal(8)], { default: 8 }),
  stopBits: Type.Union([Type.Literal(1), Type.Literal(2)], { default: 1 }),
};

export const TransportSchemas = {
  mqtt: Type.Object({ type: Type.Literal('mqtt') }, strict),
  'modbus-tcp': Type.Object(
    {
      type: Type.Literal('modbus-tcp'),
      host: Type.String({ minLength: 1 }),
      port: Port,
      unitId: Type.Integer({ minimum: 0, maximum: 247, default: 1 }),
      timeoutMs: Type.Integer({ minimum: 50, maximum: 60000, default: 1000 }),
    },
    strict,
  ),
  'modbus-rtu': Type.Object(
    {
      type: Type.Literal('modbus-rtu'),
      ...SerialLine,
      unitId: Type.Integer({ minimum: 1, maximum: 247, default: 1 }),
      timeoutMs: Type.Integer({ minimum: 50, maximum: 60000, default: 1000 }),
    },
    strict,
  ),
  serial: Type.Object({ type: Type.Literal('serial'), ...SerialLine }, strict),
  tcp: Type.Object({ type: Type.Literal('tcp'), host: Type.String({ minLength: 1 }), port: Port }, strict),
  nut: Type.Object(
    {
      type: Type.Literal('nut'),
      host: Type.String({ minLength: 1 }),
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 3493 }),
      ups: Type.String({ minLength: 1 }),
      username: Type.Optional(Type.String()),
      /** The password is never in the file: the name of the environment variable holding it. */
      passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$' })),
    },
    strict,
  ),
  gpio: Type.Object(
    {
      type: Type.Literal('gpio'),
      line: Type.Integer({ minimum: 0, maximum: 1023 }),
      activeLow: Type.Boolean({ default: false }),
      debounceMs: Type.Integer({ minimum: 0, maximum: 1000, default: 20 }),
    },
    strict,
  ),
} satisfies Record<TransportType, TSchema>;

export type TransportConfig = { [K in TransportType]: Static<(typeof TransportSchemas)[K]> }[TransportType];
export type TransportOf<K extends TransportType> = Static<(typeof TransportSchemas)[K]>;

export const DEVICE_KINDS = ['gate', 'door', 'robot', 'fire-panel', 'relay', 'ups', 'broadcast'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** Which transports each kind can use. */
export const KIND_TRANSPORTS: Record<DeviceKind, readonly TransportType[]> = {
  gate: ['mqtt'],
  door: ['mqtt'],
  robot: ['mqtt'],
  'fire-panel': ['mqtt', 'gpio'],
  relay: ['modbus-tcp', 'modbus-rtu'],
  ups: ['modbus-tcp', 'modbus-rtu', 'nut', 'gpio'],
  broadcast: ['serial', 'tcp'],
};

const RegisterEntry = Type.Object(
  {
    register: Type.Integer({ minimum: 0, maximum: 65535 }),
    function: Type.Union([Type.Literal(3), Type.Literal(4)], { default: 3 }),
    /** Multiplies the raw register value (0.1 for a register in tenths); finite and > 0. */
    scale: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, default: 1 }),
    signed: Type.Boolean({ default: false }),
  },
  strict,
);
const BitEntry = Type.Object(
  {
    register: Type.Integer({ minimum: 0, maximum: 65535 }),
    function: Type.Union([Type.Literal(3), Type.Literal(4)], { default: 3 }),
    bit: Type.Integer({ minimum: 0, maximum: 15 }),
    invert: Type.Boolean({ default: false }),
  },
  strict,
);

/**
 * A register-map entry, or null: this UPS does not provide it. Not a union: Ajv applies
 * no defaults inside anyOf, so the entry's own schema is widened to accept null.
 */
const Nullable = <T extends TSchema>(entry: T) => Type.Unsafe<Static<T> | null>({ ...entry, type: ['object', 'null'] });

export const UPS_VALUES = [
  'charge',
  'runtime',
  'inputVoltage',
  'outputVoltage',
  'load',
  'batteryTemperature',
  'inputFrequency',
] as const;
export const UPS_FLAGS = [
  'mainsPresent',
  'onBattery',
  'batteryLow',
  'replaceBattery',
  'overload',
  'charging',
  'bypass',
  'fault',
] as const;

export const KindOptionSchemas = {
  gate: Type.Object(
    {
      /** Overrides policy.checkIn.faceThreshold for this gate (e.g. a camera with other scoring). */
      faceThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    },
    strict,
  ),
  door: Type.Object({}, strict),
  robot: Type.Object({}, strict),
  'fire-panel': Type.Object({}, strict),
  relay: Type.Object(
    {
      coils: Type.Integer({ minimum: 1, maximum: 256, default: 8 }),
      outputs: Type.Array(
        Type.Object(
          {
            coil: Type.Integer({ minimum: 0, maximum: 255 }),
            id: Id,
            name: Type.Optional(Type.String()),
            role: Type.Union([Type.Literal('jammer'), Type.Literal('sheddable'), Type.Literal('critical'), Type.Literal('other')]),
            room: Type.Optional(Id),
            /** Restore order after a power cut: lower first. */
            restoreOrder: Type.Integer({ minimum: 0, default: 0 }),
          },
          strict,
        ),
        { default: [] },
      ),
      pollMs: Type.Integer({ minimum: 100, maximum: 600000, default: 5000 }),
    },
    strict,
  ),
  ups: Type.Object(
    {
      pollMs: Type.Integer({ minimum: 100, maximum: 60000, default: 1000 }),
      missesBeforeLost: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
      /**
       * Overrides of the contract's default register map, entry by entry; `null` turns an
       * entry off (the UPS does not have it). Registers are 0-based addresses.
       */
      registers: Type.Object(
        {
          charge: Type.Optional(Nullable(RegisterEntry)),
          runtime: Type.Optional(Nullable(RegisterEntry)),
          inputVoltage: Type.Optional(Nullable(RegisterEntry)),
          outputVoltage: Type.Optional(Nullable(RegisterEntry)),
          load: Type.Optional(Nullable(RegisterEntry)),
          batteryTemperature: Type.Optional(Nullable(RegisterEntry)),
          inputFrequency: Type.Optional(Nullable(RegisterEntry)),
        },
        { ...strict, default: {} },
      ),
      flags: Type.Object(
        {
          mainsPresent: Type.Optional(Nullable(BitEntry)),
          onBattery: Type.Optional(Nullable(BitEntry)),
          batteryLow: Type.Optional(Nullable(BitEntry)),
          replaceBattery: Type.Optional(Nullable(BitEntry)),
          overload: Type.Optional(Nullable(BitEntry)),
          charging: Type.Optional(Nullable(BitEntry)),
          bypass: Type.Optional(Nullable(BitEntry)),
          fault: Type.Optional(Nullable(BitEntry)),
        },
        { ...strict, default: {} },
      ),
    },
    strict,
  ),
  broadcast: Type.Object(
    {
      /** Controller zone number for each room (and optionally seat). */
      zones: Type.Array(
        Type.Object(
          {
            zone: Type.Integer({ minimum: 1, maximum: 999 }),
            room: Id,
            seat: Type.Optional(Type.Integer({ minimum: 1 })),
          },
          strict,
        ),
        { default: [] },
      ),
      timeoutMs: Type.Integer({ minimum: 50, maximum: 30000, default: 2000 }),
    },
    strict,
  ),
} satisfies Record<DeviceKind, TSchema>;

export type KindOptions<K extends DeviceKind> = Static<(typeof KindOptionSchemas)[K]>;

export const DeviceSchema = Type.Object(
  {
    id: Id,
    kind: Type.Union(DEVICE_KINDS.map((k) => Type.Literal(k))),
    name: Type.Optional(Type.String()),
    /** Checked against the transport's own schema (by `type`) in the second pass. */
    transport: Type.Object({ type: Type.Union(TRANSPORT_TYPES.map((t) => Type.Literal(t))) }, { additionalProperties: true }),
    rooms: Type.Array(Id, { default: [] }),
    zones: Type.Array(Id, { default: [] }),
    /** Checked against the kind's own schema in the second pass. */
    options: Type.Object({}, { additionalProperties: true, default: {} }),
    /** Run this device's simulator when the hub starts with --simulators (the demo does). */
    simulated: Type.Boolean({ default: false }),
  },
  strict,
);

// --- broadcast: message catalogue, scheduled announcements, warning limits (hub/broadcast) ---
const BroadcastMessage = Type.Object(
  {
    /** The controller's stored message number (FHPA/1 `PLAY msg=`), 1..9999. */
    id: Type.Integer({ minimum: 1, maximum: 9999 }),
    /** What the recording says (Chinese), shown on the console and logged; spoken by TTS if the controller lacks the recording. */
    text: Type.String({ minLength: 1, maxLength: 300 }),
  },
  strict,
);
const BroadcastAnnouncement = Type.Object(
  {
    id: Id,
    /** Exactly one of beforeEndMinutes, afterStartMinutes, cron. Minutes before a session's end ("30 minutes left"). */
    beforeEndMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
    /** Minutes after a session's start (0 = at the start). */
    afterStartMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1440 })),
    /** A node-cron expression with 5 fields (minute resolution) in the site's local time, played to every session in progress. */
    cron: Type.Optional(Type.String({ minLength: 9, maxLength: 100 })),
    /** A message of the catalogue (messageId) or a TTS text; exactly one. */
    messageId: Type.Optional(Type.Integer({ minimum: 1, maximum: 9999 })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    repeat: Type.Integer({ minimum: 1, maximum: 10, default: 1 }),
  },
  strict,
);
export const BroadcastSection = Type.Object(
  {
    messages: Type.Array(BroadcastMessage, { default: [] }),
    announcements: Type.Array(BroadcastAnnouncement, { default: [] }),
    /** Supervisor warnings per target (a session, a room or a seat): at most `max` in `windowSeconds`. */
    rateLimit: Type.Object(
      {
        max: Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
        windowSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }), // 1 minute
      },
      { ...strict, default: {} },
    ),
    /** How long a warning waits for an equal-priority activity (another warning, a live call) before 409. */
    warningWaitMs: Type.Integer({ minimum: 0, maximum: 60000, default: 5000 }), // 5 s
    /** How long a scheduled announcement waits for busy zones before it is skipped (and logged). */
    announcementWaitSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 120 }), // 2 min
    /** How long an emergency waits for another emergency on the same zones. */
    emergencyWaitSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 60 }), // 1 min
    /** A live call is hung up by the hub after this long (a forgotten open microphone). */
    maxCallSeconds: Type.Integer({ minimum: 10, maximum: 14400, default: 600 }), // 10 min
    /** Entries kept in memory for GET /api/broadcast (the console's played log). */
    recentEntries: Type.Integer({ minimum: 10, maximum: 10000, default: 200 }),
    emergency: Type.Object(
      {
        /** Played on every zone when a fire panel raises its alarm; absent = no automatic evacuation message. */
        fireAlarmMessageId: Type.Optional(Type.Integer({ minimum: 1, maximum: 9999 })),
        repeat: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
      },
      { ...strict, default: {} },
    ),
    /** The controller line: health polling and when the device counts as unavailable. */
    controller: Type.Object(
      {
        /** STATUS poll while idle; 0 = off. */
        pollSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 15 }), // 15 s
        /** Consecutive unanswered requests before the device is unavailable. */
        missesBeforeUnavailable: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
        reconnectMinMs: Type.Integer({ minimum: 10, maximum: 60000, default: 500 }), // 0.5 s
        reconnectMaxMs: Type.Integer({ minimum: 10, maximum: 600000, default: 30000 }), // 30 s
      },
      { ...strict, default: {} },
    ),
  },
  { ...strict, default: {} },
);
// --- end broadcast ---

// --- power: UPS failover policy and playbook (hub/power, docs/power.md) ---
export const POWER_STATES = ['mains-ok', 'on-battery', 'low-battery', 'critical'] as const;
export const POWER_STAGES = ['announce', 'shed', 'runtime-check', 'shutdown-hosts', 'hub-shutdown', 'restore'] as const;
export type PowerStateName = (typeof POWER_STATES)[number];
export type PowerStageName = (typeof POWER_STAGES)[number];
const PowerStateSchema = Type.Union(POWER_STATES.map((s) => Type.Literal(s)));
const PowerStage = Type.Object(
  {
    stage: Type.Union(POWER_STAGES.map((s) => Type.Literal(s))),
    /** The state that runs it; an outage that jumps to a worse state runs the milder states' stages first. */
    at: PowerStateSchema,
  },
  strict,
);
const Threshold = (chargePct: number, runtimeS: number) =>
  Type.Object(
    {
      /** At or below this battery charge, %. */
      chargePct: Type.Number({ minimum: 0, maximum: 100, default: chargePct }),
      /** At or below this runtime remaining, s. */
      runtimeS: Type.Integer({ minimum: 0, maximum: 86400, default: runtimeS }),
    },
    { ...strict, default: {} },
  );
export const DEFAULT_POWER_PLAYBOOK = [
  { stage: 'announce', at: 'on-battery' },
  { stage: 'shed', at: 'on-battery' },
  { stage: 'runtime-check', at: 'on-battery' },
  { stage: 'announce', at: 'low-battery' },
  { stage: 'shutdown-hosts', at: 'low-battery' },
  { stage: 'hub-shutdown', at: 'critical' },
  { stage: 'restore', at: 'mains-ok' },
  { stage: 'announce', at: 'mains-ok' },
] as const;
export const PowerSection = Type.Object(
  {
    /** Mains must be gone this long before on-battery (0 = at once). */
    rideThroughMs: Type.Integer({ minimum: 0, maximum: 600000, default: 0 }), // 0 s
    /** Mains must be back this long before mains-ok (and the restore). */
    mainsStableMs: Type.Integer({ minimum: 0, maximum: 3600000, default: 10000 }), // 10 s
    /** On battery and at or below either → low-battery (the UPS's own low-battery flag also counts). */
    lowBattery: Threshold(30, 600), // 30 %, 10 min
    /** On battery and at or below either → critical (NUT's FSD also counts). */
    critical: Threshold(10, 180), // 10 %, 3 min
    /** The failover stages, run in this order within each state. */
    playbook: Type.Array(PowerStage, { default: DEFAULT_POWER_PLAYBOOK.map((s) => ({ ...s })) }),
    /** What the announce stage asks the broadcast system to play, per state. */
    announce: Type.Object(
      {
        'on-battery': Type.String({ minLength: 1, maxLength: 300, default: '市电中断，系统由不间断电源供电，评标工作继续进行，请保持安静。' }),
        'low-battery': Type.String({ minLength: 1, maxLength: 300, default: '不间断电源电量不足，请各位专家及时保存评标数据。' }),
        critical: Type.String({ minLength: 1, maxLength: 300, default: '不间断电源电量即将耗尽，系统将有序关闭，请立即保存评标数据。' }),
        'mains-ok': Type.String({ minLength: 1, maxLength: 300, default: '市电已恢复供电。' }),
        /** A stored message number of the broadcast controller to play instead of the text, per state. */
        messageIds: Type.Object(
          {
            'on-battery': Type.Optional(Type.Integer({ minimum: 1, maximum: 9999 })),
            'low-battery': Type.Optional(Type.Integer({ minimum: 1, maximum: 9999 })),
            critical: Type.Optional(Type.Integer({ minimum: 1, maximum: 9999 })),
            'mains-ok': Type.Optional(Type.Integer({ minimum: 1, maximum: 9999 })),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    shutdown: Type.Object(
      {
        /**
         * MQTT devices told to shut down, in this order: each gets the command `cmd` and has
         * `hostSyncMs` to acknowledge (like NUT's FSD and HOSTSYNC) before the next one.
         */
        hosts: Type.Array(
          Type.Object(
            {
              device: Id,
              cmd: Type.String({ pattern: '^[a-z][a-z0-9.-]{0,63}$', default: 'power.shutdown' }),
            },
            strict,
          ),
          { default: [] },
        ),
        hostSyncMs: Type.Integer({ minimum: 100, maximum: 600000, default: 15000 }), // 15 s, NUT's HOSTSYNC
        /** The hub-shutdown stage stops the hub (store flushed and closed); false = only log it. */
        stopHub: Type.Boolean({ default: true }),
      },
      { ...strict, default: {} },
    ),
    restore: Type.Object(
      {
        /** Wait between two restored loads (inrush), lowest restoreOrder first. */
        staggerMs: Type.Integer({ minimum: 0, maximum: 600000, default: 5000 }), // 5 s
      },
      { ...strict, default: {} },
    ),
  },
  { ...strict, default: {} },
);
// --- end power ---

// --- jammers and the fire interlock (hub/jammers, hub/fire, docs/jammers.md) ---
const Minutes = (max: number, dflt: number) => Type.Integer({ minimum: 0, maximum: max, default: dflt });
export const JammersSection = Type.Object(
  {
    /** A zone goes on this long before a session holding its room starts. */
    leadMinutes: Minutes(240, 0),
    /** And stays on this long after the session ends (or is closed). */
    lagMinutes: Minutes(240, 0),
    /** Longest continuous on-time of a zone, then off with an alarm; 0 = no limit. */
    maxOnMinutes: Minutes(10080, 720), // 12 h
    /** Per zone (a relay output with role jammer, by its output id): lead, lag or maximum of its own. */
    zones: Type.Array(
      Type.Object(
        {
          output: Id,
          leadMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 240 })),
          lagMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 240 })),
          maxOnMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 10080 })),
        },
        strict,
      ),
      { default: [] },
    ),
    /** A failed write is retried after this long, until it holds. */
    retryMs: Type.Integer({ minimum: 100, maximum: 600000, default: 2000 }), // 2 s
    /** Every zone is compared with the relay's read-back this often and re-written when it differs. */
    reapplyMs: Type.Integer({ minimum: 1000, maximum: 3600000, default: 30000 }), // 30 s
    /** The longest expiry an admin override may have. */
    overrideMaxMinutes: Type.Integer({ minimum: 1, maximum: 10080, default: 1440 }), // 24 h
  },
  { ...strict, default: {} },
);
export const FireSection = Type.Object(
  {
    /** On a fire alarm the evaluation-area doors are unlocked (the fire code's default) or left as they are. */
    door: Type.Union([Type.Literal('unlock'), Type.Literal('keep')], { default: 'unlock' }),
    /** On a fire alarm the robot is parked (its tasks suspended), or left alone. */
    robot: Type.Union([Type.Literal('park'), Type.Literal('none')], { default: 'park' }),
  },
  { ...strict, default: {} },
);
// --- end jammers ---
// --- robot: meal deliveries (hub/robot, docs/robot.md) ---
export const RobotSection = Type.Object(
  {
    /** Meal times of every session in progress (a session may have its own, see docs/robot.md). */
    meals: Type.Array(
      Type.Object({ name: Type.String({ minLength: 1, maxLength: 32 }), cron: Type.String({ minLength: 9, maxLength: 64, description: 'minute hour day month weekday, site local time' }) }, strict),
      { default: [], maxItems: 12 },
    ),
    /** The evaluation-area door deliveries pass (default: the first door device). */
    door: Type.Optional(Id),
    /** A queued task is offered to its robot again this often while the robot refuses or is away. */
    retryMs: Type.Integer({ minimum: 1000, maximum: 600000, default: 15000 }), // 15 s
    /** After a battery-low report no task is dispatched until the robot's state shows this much. */
    resumeBatteryPercent: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  },
  { ...strict, default: {} },
);
// --- end robot ---
// --- network: bind addresses and TLS (docs/security.md) ---
/** Client certificates: not asked for, checked when a client offers one, or required. */
const ClientCerts = Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required')], { default: 'off' });
/** PEM files; a relative path is relative to the facility file's directory. */
const TlsFiles = {
  cert: Type.String({ minLength: 1, description: 'PEM certificate chain file' }),
  key: Type.String({ minLength: 1, description: 'PEM private key file (keep it 0600)' }),
  clientCa: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA file that signs client certificates' })),
  clientCerts: ClientCerts,
};
/** Loopback unless the file says otherwise: nothing is reachable from the network by accident. */
const BindHost = Type.String({ minLength: 1, default: '127.0.0.1', description: 'address to listen on; 0.0.0.0 = every interface' });
export const HttpSection = Type.Object(
  {
    host: BindHost,
    port: Type.Optional(Port),
    /** When set, the API and console are served over HTTPS only. */
    tls: Type.Optional(Type.Object(TlsFiles, strict)),
  },
  { ...strict, default: {} },
);
export const MqttSection = Type.Object(
  {
    /** The plain MQTT listener (1883): keep it on loopback once devices use TLS. */
    host: BindHost,
    port: Type.Optional(Port),
    /** MQTT over TLS, a second listener (8883 by default). */
    tls: Type.Optional(
      Type.Object(
        {
          host: Type.String({ minLength: 1, default: '0.0.0.0' }),
          port: Type.Integer({ minimum: 1, maximum: 65535, default: 8883 }),
          ...TlsFiles,
        },
        strict,
      ),
    ),
    /**
     * External broker mode (docs/deploy.md): the hub is a client of this broker instead of
     * embedding one. The password is never here: FH_MQTT_PASSWORD or `passwordFile`.
     */
    external: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^mqtts?://[^/@:]+(:[0-9]{1,5})?/?$', description: 'mqtt://host:port or mqtts://host:port, no credentials' }),
          ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA file the broker certificate is checked against (mqtts)' })),
          cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate file (mqtts)' })),
          key: Type.Optional(Type.String({ minLength: 1, description: 'PEM client key file (mqtts; keep it 0600)' })),
          username: Type.String({ minLength: 1, default: 'hub', description: "the hub's own broker account" }),
          passwordFile: Type.Optional(Type.String({ minLength: 1, description: "file holding the hub's broker password (else FH_MQTT_PASSWORD)" })),
          clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'fixed client id of the persistent session (default fh-hub-{site})' })),
        },
        strict,
      ),
    ),
  },
  { ...strict, default: {} },
);
export type ExternalMqttConfig = NonNullable<Static<typeof MqttSection>['external']>;
export type TlsFilesConfig = Static<typeof HttpSection>['tls'] & object;
// --- end network ---

// --- uplink: the county platform's broker (hub/uplink, docs/uplink.md) ---
/** What may go up, by category (docs/uplink.md lists the event types and fields of each). */
export const UPLINK_CATEGORIES = ['sessions', 'checkins', 'alarms', 'power', 'jammers', 'broadcast', 'hub', 'checkpoints'] as const;
export const UplinkSection = Type.Object(
  {
    /** No user or password in the URL: the password comes from passwordEnv or passwordFile. */
    url: Type.String({ pattern: '^mqtts?://[^\\s/@]+(/.*)?$', description: 'mqtt://host:port or mqtts://host:port, without credentials' }),
    /** PEM files for mqtts; a relative path is relative to the facility file's directory. */
    ca: Type.Optional(Type.String({ minLength: 1 })),
    cert: Type.Optional(Type.String({ minLength: 1 })),
    key: Type.Optional(Type.String({ minLength: 1 })),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** The environment variable that holds the password, or a file in the data dir (0600) that does. */
    passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$' })),
    passwordFile: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+$', description: 'a file name inside the data dir' })),
    /** Fixed, so that the upstream broker keeps the hub's session (clean: false); default fh-uplink-{site.id}. */
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Default county/{site.id}. */
    topicPrefix: Type.Optional(Type.String({ pattern: '^[^#+\\s]+[^/#+\\s]$' })),
    /** Messages waiting in the outbox above which the uplink-backlog alarm is raised (nothing is dropped). */
    backlogLimit: Type.Integer({ minimum: 1, maximum: 100_000_000, default: 100_000 }),
    /** QoS 1 messages in flight at once (unacknowledged). */
    window: Type.Integer({ minimum: 1, maximum: 1000, default: 16 }),
    /** Reconnect backoff, doubling from min to max. */
    reconnectMinMs: Type.Integer({ minimum: 10, maximum: 600_000, default: 1000 }), // 1 s
    reconnectMaxMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 60_000 }), // 1 min
    include: Type.Optional(Type.Array(Type.Union(UPLINK_CATEGORIES.map((c) => Type.Literal(c))), { uniqueItems: true })),
  },
  strict,
);
export type UplinkConfig = Static<typeof UplinkSection>;
// --- end uplink ---

export const FacilitySchema = Type.Object(
  {
    version: Type.Literal(1),
    site: Type.Object(
      {
        id: Id,
        name: Type.String({ default: '' }),
        /** Offset used when the hub writes ISO-8601 times, e.g. +08:00. */
        utcOffset: Type.String({ pattern: '^[+-](0\\d|1[0-4]):[0-5]\\d$', default: '+08:00' }),
      },
      strict,
    ),
    zones: Type.Array(Type.Object({ id: Id, name: Type.String({ default: '' }) }, strict), { default: [] }),
    rooms: Type.Array(
      Type.Object(
        {
          id: Id,
          name: Type.String({ default: '' }),
          zone: Type.Optional(Id),
          seats: Type.Integer({ minimum: 1, maximum: 500 }),
        },
        strict,
      ),
      { minItems: 0, default: [] },
    ),
    devices: Type.Array(DeviceSchema, { default: [] }),
    policy: Type.Object(
      {
        checkIn: Type.Object(
          {
            faceThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.8 }),
            allowReentry: Type.Boolean({ default: false }),
            language: Type.Union([Type.Literal('zh'), Type.Literal('en')], { default: 'zh' }),
            opensMinutes: Type.Integer({ minimum: 0, maximum: 1440, default: 60 }),
            /** Seat stays held for a granted expert who has not passed the gate yet. */
            passageTimeoutSeconds: Type.Integer({ minimum: 5, maximum: 3600, default: 120 }),
          },
          { ...strict, default: {} },
        ),
        commands: Type.Object(
          {
            timeoutMs: Type.Integer({ minimum: 100, maximum: 120000, default: 5000 }),
            retries: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
          },
          { ...strict, default: {} },
        ),
        /** The sealed-area door's open-requests and relock check (hub/door, docs/door.md). */
        door: Type.Object(
          {
            /** Who is let through outside any running session (the robot always needs a task at the door; nobody else during a session). */
            outsideSessions: Type.Array(Type.Union(['card', 'button', 'key', 'remote'].map((k) => Type.Literal(k))), { uniqueItems: true, default: ['card', 'button'] }),
            /** A door told to lock must report locked and closed within this long, else a critical alarm. */
            lockCheckSeconds: Type.Integer({ minimum: 1, maximum: 600, default: 10 }),
          },
          { ...strict, default: {} },
        ),
        /** Signed checkpoints of the event log (hub/audit, docs/security-audit.md). */
        audit: Type.Object(
          {
            checkpointEvents: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
            checkpointMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 5 }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    broadcast: BroadcastSection,
    power: PowerSection,
    jammers: JammersSection,
    fire: FireSection,
    robot: RobotSection,
    http: HttpSection,
    mqtt: MqttSection,
    uplink: Type.Optional(UplinkSection),
  },
  strict,
);

export type FacilityConfig = Static<typeof FacilitySchema>;
export type RoomConfig = FacilityConfig['rooms'][number];
/** A device after the second pass: transport and options have their own types. */
export type DeviceConfig = Omit<Static<typeof DeviceSchema>, 'transport' | 'options'> & {
  transport: TransportConfig;
  options: Record<string, unknown>;
};
export type Facility = Omit<FacilityConfig, 'devices'> & { devices: DeviceConfig[] };
