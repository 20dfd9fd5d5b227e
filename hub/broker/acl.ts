/**
 * The per-device topic ACL of the contract, as pure functions:
 * a device publishes only under `fh/{site}/{deviceId}/` (never the hub's answer topics),
 * and subscribes only to its own `cmd`, `verify/result` and `allow-list` plus `fh/{site}/hub/#`.
 */

import { DEVICE_PUBLISH_SUBTOPICS, type DeviceSubtopic } from '../../devices/seam.js';

export type PublishDecision = { allow: true; subtopic: DeviceSubtopic } | { allow: false; reason: string };

export function topicPrefix(site: string, deviceId: string): string {
  return `fh/${site}/${deviceId}/`;
}

export function checkPublish(site: string, deviceId: string, topic: string): PublishDecision {
  const prefix = topicPrefix(site, deviceId);
  if (!topic.startsWith(prefix)) return { allow: false, reason: `outside ${prefix}` };
  const tail = topic.slice(prefix.length);
  if ((DEVICE_PUBLISH_SUBTOPICS as readonly string[]).includes(tail)) return { allow: true, subtopic: tail as DeviceSubtopic };
  return { allow: false, reason: `unknown topic ${tail === '' ? '(empty)' : tail}` };
}

export function checkSubscribe(site: string, deviceId: string, filter: string): boolean {
  const own = topicPrefix(site, deviceId);
  // `allow-list` extends the contract: a gate's retained offline allow-list (docs/contract.md).
  if (filter === `${own}cmd` || filter === `${own}verify/result` || filter === `${own}allow-list`) return true;
  // Any filter that starts inside the hub's tree can only match topics in that tree.
  return filter.startsWith(`fh/${site}/hub/`);
}
