/**
 * Shared pieces of the Modbus TCP simulators (UPS, relay modules): a modbus-serial
 * ServerTCP on a given or ephemeral port, and exception errors the server turns into
 * Modbus exception responses.
 */
import net from 'node:net';
import modbusSerial from 'modbus-serial';
import type { IServiceVector } from 'modbus-serial';
import type { Logger } from '../kernel/log.js';

/** An error modbus-serial's server answers as a Modbus exception response with this code. */
export function modbusException(code: number): Error & { modbusErrorCode: number } {
  return Object.assign(new Error(`Modbus exception ${code}`), { modbusErrorCode: code });
}

export interface ModbusTcpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Runs a modbus-serial ServerTCP. It treats port 0 as "unset" and falls back to 502, so an
 * ephemeral port is found first with a throwaway listener (retrying if another process wins it).
 */
export async function serveModbusTcp(
  vector: IServiceVector,
  opts: { host: string; port: number; unitId: number; log: Logger },
): Promise<ModbusTcpServer> {
  const attempts = opts.port === 0 ? 5 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port === 0 ? await freePort(opts.host) : opts.port;
    const server = new modbusSerial.ServerTCP(vector, { host: opts.host, port, unitID: opts.unitId });
    // Socket resets from clients that go away are routine; without listeners they would be lost
    // silently at best, or (for 'error') crash the process.
    server.on('socketError', (err) => opts.log.debug({ err }, 'modbus server socket error'));
    server.on('error', (err) => opts.log.warn({ err }, 'modbus server error'));
    const started = await new Promise<Error | null>((resolve) => {
      server.on('initialized', () => resolve(null));
      server.on('serverError', (err) => resolve(err ?? new Error('modbus server failed to listen')));
    });
    if (!started) {
      return {
        port,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };
    }
    lastError = started;
    server.close(() => undefined);
  }
  throw lastError instanceof Error ? lastError : new Error('modbus server failed to listen');
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
