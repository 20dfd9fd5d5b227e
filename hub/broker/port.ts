/**
 * What the rest of the hub uses of "the broker", whichever it is: the embedded aedes
 * (broker.ts, the hub is the server) or an external Mosquitto / EMQX (external.ts, the hub
 * is one client of it). Incoming device messages do not appear here: both hand them, with
 * the device id, to the Ingest before they acknowledge them.
 */
export interface BrokerPort {
  readonly mode: 'embedded' | 'external';
  /** Publishes as the hub (QoS 1 by default); resolves once the broker has the message or it is queued for it. */
  publish(topic: string, payload: unknown, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** Ends connections admitted under a token that is no longer current (embedded only: an external broker revokes through its password file). */
  closeRevoked(current: ReadonlyMap<string, string>, currentIntegrations?: ReadonlyMap<string, string>): void;
  /** Devices connected now (embedded: live sessions; external: whose last status said online). */
  connectedDevices(): string[];
  close(): Promise<void>;
}
