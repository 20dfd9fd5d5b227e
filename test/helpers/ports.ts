import { createServer } from 'node:net';

/**
 * A loopback port free at this moment, for a process the test starts itself (Mosquitto,
 * upsd, a hub child) that cannot be told to bind port 0 and report back.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const addr = probe.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
