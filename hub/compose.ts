import { Hub, type HubOptions } from './hub.js';

/**
 * Builds a hub with every feature of the product wired in. Tests that need only the
 * foundation construct `Hub` directly.
 */
export function createHub(opts: HubOptions): Hub {
  const hub = new Hub(opts);
  return hub;
}
