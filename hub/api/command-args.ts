import type { DeviceConfig, Facility } from '../../config/schema.js';
import { MQTT_KINDS } from '../../devices/kinds.js';
import { ROBOT_OWNED_COMMANDS } from '../../devices/robot.js';
import type { FieldProblem } from './validation.js';

/**
 * The arguments of a device command, checked against the facility before anything is sent
 * or recorded: a wrong argument is the caller's mistake (400 naming the field), not the
 * device refusing (502). The devices check again (defence in depth, and the hub's own
 * features call them directly); these rules follow theirs.
 */
export function commandArgProblems(facility: Facility, device: DeviceConfig, cmd: string, args: Record<string, unknown>): FieldProblem[] {
  const out: FieldProblem[] = [];
  const field = (name: string): string => `body.args.${name}`;
  const only = (known: readonly string[]): void => {
    for (const k of Object.keys(args)) {
      if (!known.includes(k)) out.push({ field: field(k), message: known.length ? `不是已知参数 / is not an argument of ${cmd} (arguments: ${known.join(', ')})` : `${cmd} 不需要参数 / ${cmd} takes no arguments` });
    }
  };

  if (device.kind === 'relay') {
    if (cmd === 'refresh') only([]);
    if (cmd !== 'set') return out;
    only(['output', 'on']);
    const outputs = ((device.options as { outputs?: { id: string }[] }).outputs ?? []).map((o) => o.id);
    if (typeof args.output !== 'string' || !outputs.includes(args.output)) {
      out.push({ field: field('output'), message: `应为本模块的输出 / must be an output of ${device.id} (${outputs.join(', ') || 'none'}), found ${show(args.output)}` });
    }
    if (typeof args.on !== 'boolean') out.push({ field: field('on'), message: `应为 true 或 false / must be true or false, found ${show(args.on)}` });
    return out;
  }

  if (device.kind === 'broadcast') {
    // `only` adds to `out`, the controller's own rules come back separately.
    const own = broadcastArgProblems(device, cmd, args, only, field);
    return [...out, ...own];
  }

  const spec = MQTT_KINDS[device.kind];
  if (spec) {
    // A robot's task commands are the robot feature's (hub/robot): the API answers 409, not a field error.
    if (device.kind === 'robot' && ROBOT_OWNED_COMMANDS.includes(cmd)) return out;
    const check = spec.commands[cmd];
    if (!check) return out;
    const error = check(args);
    if (error) {
      only([]);
      if (out.length === 0) out.push({ field: 'body.args', message: error });
    }
    return out;
  }

  // A UPS takes only `refresh`, without arguments.
  if (device.kind === 'ups') only([]);
  return out;
}

function broadcastArgProblems(device: DeviceConfig, cmd: string, args: Record<string, unknown>, only: (known: readonly string[]) => void, field: (name: string) => string): FieldProblem[] {
  const out: FieldProblem[] = [];
  const zones = (device.options as { zones?: { zone: number; room: string }[] }).zones ?? [];
  if (cmd === 'status') {
    only([]);
    return out;
  }
  const extra = cmd === 'play' ? ['message', 'repeat'] : cmd === 'tts' ? ['text', 'repeat'] : [];
  only(['room', 'zones', ...extra]);
  const zoneRooms = [...new Set(zones.map((z) => z.room))];
  const zoneNumbers = zones.map((z) => z.zone);
  if (args.room !== undefined) {
    if (typeof args.room !== 'string' || !zoneRooms.includes(args.room)) out.push({ field: field('room'), message: `应为有广播分区的房间 / must be a room with a zone on ${device.id} (${zoneRooms.join(', ') || 'none'}), found ${show(args.room)}` });
  } else if (args.zones !== undefined) {
    const ok = (cmd === 'stop' && args.zones === 'all') || (Array.isArray(args.zones) && args.zones.length > 0 && args.zones.every((z) => Number.isInteger(z) && zoneNumbers.includes(z as number)));
    if (!ok) out.push({ field: field('zones'), message: `应为已配置的分区 / must list configured zones (${zoneNumbers.join(', ') || 'none'})${cmd === 'stop' ? ' or be "all"' : ''}, found ${show(args.zones)}` });
  } else {
    out.push({ field: field('room'), message: '缺少 room 或 zones / room or zones is required' });
  }
  if (cmd === 'play' && !Number.isInteger(args.message)) out.push({ field: field('message'), message: `应为录音编号 / must be a stored message number, found ${show(args.message)}` });
  if (cmd === 'tts' && (typeof args.text !== 'string' || args.text.trim() === '')) out.push({ field: field('text'), message: '不能为空 / must be a non-empty text' });
  if (args.repeat !== undefined && !(Number.isInteger(args.repeat) && (args.repeat as number) >= 1 && (args.repeat as number) <= 10)) {
    out.push({ field: field('repeat'), message: `应为 1 到 10 / must be a whole number from 1 to 10, found ${show(args.repeat)}` });
  }
  return out;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
