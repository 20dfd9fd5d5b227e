import { createRequire } from 'node:module';

/**
 * Process-wide memory settings of the hub's start (`facility-hub start`; docs/reliability.md,
 * "Memory"). Only settings that change no behaviour: what a message looks like on the wire,
 * what is committed and when, stay as they are.
 */

interface MqttPacketWriter {
  cacheNumbers: boolean;
}

/**
 * mqtt-packet (aedes' and mqtt.js' encoder) builds, on the first packet it writes, a table
 * of 65,536 two-byte Buffers, one per packet id / length it might write, and keeps it for
 * the life of the process: about 8 MB of JS heap (measured in a heap snapshot of the soak:
 * 65,536 of its 67,696 Buffer objects). Without it each such number is a 2-byte allocation
 * from Node's buffer pool as it is written. Resolved from aedes, so it is the copy aedes uses.
 * Returns the setting now in force (false), or null when the module is not where expected.
 */
export function leanMqttEncoder(): boolean | null {
  try {
    const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
    const writer = (fromAedes('mqtt-packet') as { writeToStream?: MqttPacketWriter }).writeToStream;
    if (!writer || typeof writer.cacheNumbers !== 'boolean') return null;
    writer.cacheNumbers = false;
    return writer.cacheNumbers;
  } catch {
    return null;
  }
}
