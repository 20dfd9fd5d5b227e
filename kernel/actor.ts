/** Who caused a state change: a user, a device, or the hub's own automation. */
export type Actor = `user:${string}` | `device:${string}` | `automation:${string}` | 'hub';
