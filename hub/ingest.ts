import type { DeviceMessage, IngestOutcome } from '../devices/seam.js';
import type { Availability } from './availability.js';
import type { CommandLedger } from './commands.js';
import type { Logger } from './log.js';
import type { Device } from '../devices/types.js';
import type { DeviceKind } from '../config/schema.js';
import { parseTime } from '../kernel/time.js';

export type MessageHandler = (m: DeviceMessage) => Promise<IngestOutcome>;

/**
 * Where device messages land, before the broker acknowledges them. Status, state and
 * command acks are the same for every kind; events go to the device model; other
 * subtopics (a gate's `verify`) to the hub feature that registered for them.
 */
export class Ingest {
  private readonly handlers = new Map<string, MessageHandler>();

  constructor(
    private readonly deps: {
      availability: Availability;
      commands: CommandLedger;
      devices: Map<string, Device>;
      log: Logger;
    },
  ) {}

  /** A hub feature handles `subtopic` for devices of `kind` (e.g. check-in: gate/verify). */
  register(kind: DeviceKind, subtopic: DeviceMessage['subtopic'], handler: MessageHandler): void {
    this.handlers.set(`${kind}/${subtopic}`, handler);
  }

  readonly onMessage = async (m: DeviceMessage): Promise<IngestOutcome> => {
    const { availability, commands, devices } = this.deps;
    const config = availability.config(m.deviceId);
    if (!config) return { accepted: false, reason: `unknown device ${m.deviceId}` };
    availability.seen(m.deviceId);
    switch (m.subtopic) {
      case 'status': {
        const p = m.payload as Record<string, unknown> | null;
        if (p === null || typeof p !== 'object' || Array.isArray(p) || typeof p.online !== 'boolean') {
          return { accepted: false, reason: 'status must be {"online": true|false, "ts"?: ...}' };
        }
        if (p.ts !== undefined && parseTime(p.ts) === null) return { accepted: false, reason: 'status.ts must be ISO-8601 with an offset or epoch milliseconds' };
        availability.setStatus(m.deviceId, p.online);
        return { accepted: true };
      }
      case 'state': {
        const p = m.payload;
        if (p === null || typeof p !== 'object' || Array.isArray(p)) return { accepted: false, reason: 'state must be a JSON object (the full current state)' };
        await availability.setState(m.deviceId, p as Record<string, unknown>);
        return { accepted: true };
      }
      case 'cmd/ack':
        return commands.ack(m.deviceId, m.payload);
      default: {
        const handler = this.handlers.get(`${config.kind}/${m.subtopic}`);
        if (handler) return handler(m);
        const device = devices.get(m.deviceId);
        if (device?.handleMessage) return device.handleMessage(m);
        return { accepted: false, reason: `a ${config.kind} does not publish ${m.subtopic}` };
      }
    }
  };
}
