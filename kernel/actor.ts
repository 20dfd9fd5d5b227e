/** Who caused a state change: a user, a device, an integration account (hub/integrations), or the hub's own automation. */
export type Actor = `user:${string}` | `device:${string}` | `integration:${string}` | `automation:${string}` | 'hub';
