import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The hub's Prometheus metrics, one registry per hub instance (no global registry, so
 * tests can run several hubs in one process).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly devicesOnline: Gauge;
  readonly devicesConfigured: Gauge;
  readonly mqttMessages: Counter<'subtopic'>;
  readonly mqttRejected: Counter<'reason'>;
  readonly mqttRefused: Counter<'what'>;
  readonly commandLatency: Histogram<'device_kind' | 'outcome'>;
  readonly commands: Counter<'outcome'>;
  readonly eventLogSize: Gauge;
  readonly alarmsActive: Gauge<'severity'>;
  readonly httpRejected: Counter<'code'>;
  readonly driverFailures: Counter<'device' | 'kind'>;
  readonly devicesAvailable: Gauge<'kind'>;
  // --- health index and the power / check-in figures (hub/health) ---
  readonly healthIndex: Gauge<'subsystem'>;
  readonly mainsPresent: Gauge<'device'>;
  readonly batteryCharge: Gauge<'device'>;
  readonly runtimeSeconds: Gauge<'device'>;
  readonly decisions: Counter<'result' | 'reason'>;
  readonly decisionLatency: Histogram;
  // --- the broker link (external broker mode: the hub's client connection; embedded: 1 while listening) ---
  readonly brokerConnected: Gauge;
  readonly brokerReconnects: Counter;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'fh_process_' });
    const r = [this.registry];
    this.devicesOnline = new Gauge({ name: 'fh_devices_online', help: 'Configured devices currently available', registers: r });
    this.devicesConfigured = new Gauge({ name: 'fh_devices_configured', help: 'Devices in the facility config', registers: r });
    this.mqttMessages = new Counter({ name: 'fh_mqtt_messages_total', help: 'Device messages accepted, by topic', labelNames: ['subtopic'], registers: r });
    this.mqttRejected = new Counter({ name: 'fh_mqtt_rejected_total', help: 'Device messages rejected (bad JSON, wrong shape, too large)', labelNames: ['reason'], registers: r });
    this.mqttRefused = new Counter({ name: 'fh_mqtt_refused_total', help: 'Refused connects, publishes and subscribes', labelNames: ['what'], registers: r });
    this.commandLatency = new Histogram({
      name: 'fh_command_latency_seconds',
      help: 'Hub to device command round trip (sent to ack)',
      labelNames: ['device_kind', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.commands = new Counter({ name: 'fh_commands_total', help: 'Commands by final outcome', labelNames: ['outcome'], registers: r });
    this.eventLogSize = new Gauge({ name: 'fh_event_log_records', help: 'Records in the tamper-evident event log', registers: r });
    this.alarmsActive = new Gauge({ name: 'fh_alarms_active', help: 'Active alarms by severity (acknowledged or not)', labelNames: ['severity'], registers: r });
    this.httpRejected = new Counter({ name: 'fh_http_rejected_total', help: 'HTTP requests answered with an error, by code', labelNames: ['code'], registers: r });
    this.devicesAvailable = new Gauge({ name: 'fh_devices_available', help: 'Configured devices currently available, by kind', labelNames: ['kind'], registers: r });
    this.driverFailures = new Counter({ name: 'fh_driver_failures_total', help: 'Failed driver requests', labelNames: ['device', 'kind'], registers: r });
    this.healthIndex = new Gauge({ name: 'fh_health_index', help: 'IT health index 0-100 by subsystem, and overall (docs/health.md)', labelNames: ['subsystem'], registers: r });
    this.mainsPresent = new Gauge({ name: 'fh_power_mains_present', help: 'Mains present at the UPS input (1) or not (0)', labelNames: ['device'], registers: r });
    this.batteryCharge = new Gauge({ name: 'fh_power_battery_charge_percent', help: 'UPS battery charge, %', labelNames: ['device'], registers: r });
    this.runtimeSeconds = new Gauge({ name: 'fh_power_runtime_seconds', help: 'UPS runtime remaining on battery, s', labelNames: ['device'], registers: r });
    this.decisions = new Counter({ name: 'fh_checkin_decisions_total', help: 'Gate decisions by result (grant/deny) and reason', labelNames: ['result', 'reason'], registers: r });
    this.decisionLatency = new Histogram({
      name: 'fh_checkin_decision_seconds',
      help: 'Gate verify received to answer published (the OSDP budget is 0.2 s)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
      registers: r,
    });
    this.brokerConnected = new Gauge({ name: 'fh_mqtt_broker_connected', help: 'The hub has its MQTT broker: listening (embedded) or connected to it (external), 1 or 0', registers: r });
    this.brokerReconnects = new Counter({ name: 'fh_mqtt_broker_reconnects_total', help: 'Reconnections to the external MQTT broker after a lost link', registers: r });
  }
}
