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
  'fire-panel': ['mqtt'],
  relay: ['modbus-tcp', 'modbus-rtu'],
  ups: ['modbus-tcp', 'modbus-rtu', 'nut', 'gpio'],
  broadcast: ['serial', 'tcp'],
};

const RegisterEntry = Type.Object(
  {
    register: Type.Integer({ minimum: 0, maximum: 65535 }),
    function: Type.Union([Type.Literal(3), Type.Literal(4)], { default: 3 }),
    scale: Type.Number({ default: 1 }),
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
      /** Overrides of the contract's default register map, entry by entry. */
      registers: Type.Object(
        {
          charge: Type.Optional(RegisterEntry),
          runtime: Type.Optional(RegisterEntry),
          inputVoltage: Type.Optional(RegisterEntry),
          outputVoltage: Type.Optional(RegisterEntry),
          load: Type.Optional(RegisterEntry),
          batteryTemperature: Type.Optional(RegisterEntry),
          inputFrequency: Type.Optional(RegisterEntry),
        },
        { ...strict, default: {} },
      ),
      flags: Type.Object(
        {
          mainsPresent: Type.Optional(BitEntry),
          onBattery: Type.Optional(BitEntry),
          batteryLow: Type.Optional(BitEntry),
          replaceBattery: Type.Optional(BitEntry),
          overload: Type.Optional(BitEntry),
          charging: Type.Optional(BitEntry),
          bypass: Type.Optional(BitEntry),
          fault: Type.Optional(BitEntry),
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
      },
      { ...strict, default: {} },
    ),
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
