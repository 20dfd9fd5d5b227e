/**
 * A call/broadcast (PA) controller that speaks FHPA/1 (docs/pa-protocol.md), over TCP the way a
 * serial device server exposes a real controller, and optionally on a pseudo-terminal made by
 * socat so the serial path (serialport, termios) is exercised for real.
 *
 * It behaves like the hardware the hub must cope with: it enforces priorities itself (a higher
 * priority preempts and the loser is told with PREEMPTED, equal or lower is refused BUSY), zones
 * fault and recover, it may go silent, and it tolerates line noise (garbage is skipped, a
 * well-framed but invalid request is answered NAK BAD_REQUEST).
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { SerialPort } from 'serialport';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import {
  PA_SUPPORTED_VERSIONS,
  createPayloadDecoder,
  encode,
  isRequest,
  parsePayload,
  type PaActivityKind,
  type PaEvent,
  type PaRequest,
  type PaResponse,
  type PaZoneState,
} from '../drivers/pa-protocol.js';

export interface PaSimulatorOptions {
  /** Default 127.0.0.1: a simulator never listens beyond loopback unless told to. */
  host?: string;
  /** 0 = an ephemeral port (read it back from the simulator's `port`). */
  port: number;
  /** Zones are numbered 1..zones. */
  zones: number;
  /** Also serve the protocol on a socat pseudo-terminal; its device end is `ptyPath`. Rejects when socat is missing. */
  pty?: boolean;
  clock: Clock;
  log: Logger;
  /** How long one PLAY or TTS pass lasts (times repeat). Default 5000 ms. */
  messageDurationMs?: number;
  /** How long a CHIME lasts. Default 2000 ms. */
  chimeDurationMs?: number;
  /** Stored messages are numbered 1..messages; others are NAK'd BAD_MESSAGE. Default 64. */
  messages?: number;
  /** Reported in the HELLO answer. */
  model?: string;
}

export type PlayedOutcome = 'active' | 'done' | 'preempted' | 'stopped' | 'fault';

/** One thing the controller played (or is playing): what, where, at which priority, and how it ended. */
export interface PlayedEntry {
  activityId: number;
  kind: PaActivityKind;
  zones: number[];
  priority: number;
  startedAt: number;
  endedAt: number | null;
  message?: number;
  text?: string;
  repeat?: number;
  recordingId?: string;
  outcome: PlayedOutcome;
  /** Zones taken away by a higher priority (all of them when outcome is 'preempted'). */
  preemptedZones: number[];
}

export interface PaSimZoneState {
  zone: number;
  state: PaZoneState;
  priority: number;
  activityId: number | null;
  kind: PaActivityKind | null;
  fault: string | null;
}

export interface PaSimulatorStats {
  requests: number;
  ignoredRequests: number;
  badRequests: number;
  garbageBytes: number;
  badFrames: number;
  clients: number;
}

export interface PaSimulator {
  port: number;
  /** The device end of the socat pair (what a hub configures as its serial path), or null without pty. */
  ptyPath: string | null;
  log(): PlayedEntry[];
  zoneState(zone: number): PaSimZoneState;
  injectFault(zone: number, description: string): void;
  clearFault(zone: number): void;
  /** While on, requests are read and dropped without an answer (a hung controller). Events still flow. */
  setUnresponsive(on: boolean): void;
  /** Writes raw bytes to every connected client: line noise for resynchronisation tests. */
  injectRaw(bytes: Buffer): void;
  stats(): PaSimulatorStats;
  stop(): Promise<void>;
}

interface Peer {
  write(bytes: Buffer): void;
}

interface Activity {
  entry: PlayedEntry;
  zones: Set<number>;
  timer: TimerHandle | null;
}

interface Zone {
  activity: Activity | null;
  fault: string | null;
}

type Outcome = { response: PaResponse; events: PaEvent[] };

class PaControllerModel {
  private readonly zones = new Map<number, Zone>();
  private readonly entries: PlayedEntry[] = [];
  private readonly recordings = new Map<string, Activity>();
  private nextActivityId = 1;
  private nextRecording = 1;

  constructor(
    private readonly opts: Required<Pick<PaSimulatorOptions, 'zones' | 'messageDurationMs' | 'chimeDurationMs' | 'messages' | 'model'>> & {
      clock: Clock;
    },
    private readonly emit: (events: PaEvent[]) => void,
  ) {
    for (let z = 1; z <= opts.zones; z++) this.zones.set(z, { activity: null, fault: null });
  }

  handle(req: PaRequest): Outcome {
    const seq = req.seq;
    switch (req.type) {
      case 'HELLO': {
        const common = req.versions.filter((v) => PA_SUPPORTED_VERSIONS.includes(v));
        if (common.length === 0) {
          return nak(seq, 'BAD_REQUEST', `no common protocol version; controller speaks ${PA_SUPPORTED_VERSIONS.join(',')}`);
        }
        return { response: { type: 'ACK', seq, version: Math.max(...common), zoneCount: this.opts.zones, model: this.opts.model }, events: [] };
      }
      case 'STATUS':
        return {
          response: {
            type: 'ACK',
            seq,
            status: [...this.zones.keys()].map((z) => {
              const s = this.zoneState(z);
              return { zone: z, state: s.state, priority: s.priority };
            }),
          },
          events: [],
        };
      case 'PLAY':
        if (req.message > this.opts.messages) return nak(seq, 'BAD_MESSAGE', `no stored message ${req.message}`);
        return this.start(seq, req.zones, req.priority, 'play', this.opts.messageDurationMs * req.repeat, {
          message: req.message,
          repeat: req.repeat,
        });
      case 'TTS':
        return this.start(seq, req.zones, req.priority, 'tts', this.opts.messageDurationMs * req.repeat, { text: req.text, repeat: req.repeat });
      case 'CHIME':
        return this.start(seq, req.zones, req.priority, 'chime', this.opts.chimeDurationMs, {});
      case 'CALL_START':
        return this.start(seq, req.zones, req.priority, 'call', null, {});
      case 'CALL_STOP': {
        const act = this.recordings.get(req.recordingId);
        if (!act) return nak(seq, 'BAD_REQUEST', `unknown recording ${req.recordingId}`);
        const events: PaEvent[] = [];
        if (act.entry.outcome === 'active') events.push(this.finish(act));
        const durationMs = (act.entry.endedAt ?? this.opts.clock.now()) - act.entry.startedAt;
        return { response: { type: 'ACK', seq, recordingId: req.recordingId, durationMs: Math.max(0, durationMs) }, events };
      }
      case 'STOP': {
        const zones = req.zones === 'all' ? [...this.zones.keys()] : unique(req.zones);
        const bad = zones.filter((z) => !this.zones.has(z));
        if (bad.length > 0) return nak(seq, 'BAD_ZONE', `no zone ${bad.join(',')}`, bad);
        const stopped: number[] = [];
        const events: PaEvent[] = [];
        for (const act of this.activitiesOn(zones)) {
          const taken = zones.filter((z) => act.zones.has(z));
          stopped.push(...taken);
          events.push(this.release(act, taken, 'stopped'));
        }
        return { response: { type: 'ACK', seq, stopped: stopped.sort((a, b) => a - b) }, events };
      }
    }
  }

  zoneState(zone: number): PaSimZoneState {
    const z = this.zones.get(zone);
    if (!z) return { zone, state: 'fault', priority: 0, activityId: null, kind: null, fault: 'no such zone' };
    if (z.fault !== null) return { zone, state: 'fault', priority: 0, activityId: null, kind: null, fault: z.fault };
    const a = z.activity;
    if (!a) return { zone, state: 'idle', priority: 0, activityId: null, kind: null, fault: null };
    return {
      zone,
      state: a.entry.kind === 'call' ? 'live' : 'playing',
      priority: a.entry.priority,
      activityId: a.entry.activityId,
      kind: a.entry.kind,
      fault: null,
    };
  }

  injectFault(zone: number, description: string): void {
    const z = this.zones.get(zone);
    if (!z) return;
    z.fault = description;
    const events: PaEvent[] = [{ type: 'FAULT', seq: 0, zone, text: description }];
    if (z.activity) events.push(this.release(z.activity, [zone], 'fault'));
    this.emit(events);
  }

  clearFault(zone: number): void {
    const z = this.zones.get(zone);
    if (!z || z.fault === null) return;
    z.fault = null;
    this.emit([{ type: 'FAULT_CLEARED', seq: 0, zone }]);
  }

  played(): PlayedEntry[] {
    return this.entries.map((e) => ({ ...e, zones: [...e.zones], preemptedZones: [...e.preemptedZones] }));
  }

  shutdown(): void {
    for (const z of this.zones.values()) z.activity?.timer?.cancel();
  }

  private start(
    seq: number,
    requested: number[],
    priority: number,
    kind: PaActivityKind,
    durationMs: number | null,
    extra: Pick<PlayedEntry, 'message' | 'text' | 'repeat'>,
  ): Outcome {
    const zones = unique(requested);
    const bad = zones.filter((z) => !this.zones.has(z));
    if (bad.length > 0) return nak(seq, 'BAD_ZONE', `no zone ${bad.join(',')}`, bad);
    const faulty = zones.filter((z) => this.zones.get(z)?.fault != null);
    if (faulty.length > 0) return nak(seq, 'FAULT', `zone ${faulty.join(',')} in fault`, faulty);
    // All or nothing: a request that cannot have every zone takes none of them.
    const busy = zones.filter((z) => {
      const a = this.zones.get(z)?.activity;
      return a != null && a.entry.priority >= priority;
    });
    if (busy.length > 0) {
      const first = this.zones.get(busy[0] ?? 0)?.activity?.entry;
      return nak(seq, 'BUSY', `zone ${busy.join(',')} busy (${first?.kind ?? '?'} at priority ${first?.priority ?? '?'})`, busy);
    }
    const id = this.nextActivityId++;
    const events: PaEvent[] = [];
    for (const loser of this.activitiesOn(zones)) {
      const taken = zones.filter((z) => loser.zones.has(z));
      loser.entry.preemptedZones.push(...taken);
      events.push({
        type: 'PREEMPTED',
        seq: 0,
        zones: taken,
        what: loser.entry.kind,
        activityId: loser.entry.activityId,
        by: kind,
        byActivityId: id,
        priority,
      });
      this.release(loser, taken, 'preempted');
    }
    const entry: PlayedEntry = {
      activityId: id,
      kind,
      zones,
      priority,
      startedAt: this.opts.clock.now(),
      endedAt: null,
      ...extra,
      outcome: 'active',
      preemptedZones: [],
    };
    const act: Activity = { entry, zones: new Set(zones), timer: null };
    if (kind === 'call') {
      entry.recordingId = `R${String(this.nextRecording++).padStart(6, '0')}`;
      this.recordings.set(entry.recordingId, act);
    }
    this.entries.push(entry);
    for (const z of zones) {
      const zone = this.zones.get(z);
      if (zone) zone.activity = act;
    }
    if (durationMs !== null) {
      act.timer = this.opts.clock.setTimeout(() => {
        act.timer = null;
        if (act.entry.outcome === 'active') this.emit([this.finish(act)]);
      }, durationMs);
    }
    const response: PaResponse = { type: 'ACK', seq, activityId: id };
    if (entry.recordingId !== undefined) response.recordingId = entry.recordingId;
    return { response, events };
  }

  private activitiesOn(zones: number[]): Activity[] {
    const found = new Set<Activity>();
    for (const z of zones) {
      const a = this.zones.get(z)?.activity;
      if (a) found.add(a);
    }
    return [...found];
  }

  /** Takes zones away from an activity; it ends (with outcome) once it has none left. */
  private release(act: Activity, zones: number[], outcome: 'preempted' | 'stopped' | 'fault'): PaEvent {
    for (const z of zones) {
      act.zones.delete(z);
      const zone = this.zones.get(z);
      if (zone?.activity === act) zone.activity = null;
    }
    if (act.zones.size === 0) this.end(act, outcome);
    return { type: 'DONE', seq: 0, zones, what: act.entry.kind, activityId: act.entry.activityId, end: outcome === 'fault' ? 'fault' : 'stopped' };
  }

  /** Ends an activity normally (played out, or a call hung up). */
  private finish(act: Activity): PaEvent {
    const zones = [...act.zones].sort((a, b) => a - b);
    for (const z of zones) {
      const zone = this.zones.get(z);
      if (zone?.activity === act) zone.activity = null;
    }
    act.zones.clear();
    this.end(act, 'done');
    return { type: 'DONE', seq: 0, zones: zones.length > 0 ? zones : act.entry.zones, what: act.entry.kind, activityId: act.entry.activityId, end: 'done' };
  }

  private end(act: Activity, outcome: Exclude<PlayedOutcome, 'active'>): void {
    act.timer?.cancel();
    act.timer = null;
    act.entry.outcome = outcome;
    act.entry.endedAt = this.opts.clock.now();
  }
}

function nak(seq: number, code: 'BUSY' | 'BAD_ZONE' | 'BAD_MESSAGE' | 'BAD_REQUEST' | 'FAULT', text: string, zones?: number[]): Outcome {
  const response: PaResponse = { type: 'NAK', seq, code, text };
  if (zones !== undefined && zones.length > 0) response.zones = zones;
  return { response, events: [] };
}

function unique(zones: number[]): number[] {
  return [...new Set(zones)];
}

/** The socat executable on PATH, or null. Looked up per call so a test can take it away. */
export function findSocat(pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'socat');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

interface PtyPair {
  devPath: string;
  port: SerialPort;
  close(): Promise<void>;
}

/** Bounds socat's start-up in real time: it is an OS process, the injected clock may be a manual one. */
const SOCAT_START_TIMEOUT_MS = 5000;

async function openPtyPair(log: Logger): Promise<PtyPair> {
  const socat = findSocat();
  if (socat === null) {
    throw new Error('PA simulator: pty mode needs socat, which is not on PATH (Debian: apt-get install socat)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'fh-pa-'));
  const devPath = join(dir, 'pa-dev');
  const simPath = join(dir, 'pa-sim');
  const child: ChildProcess = spawn(socat, ['-d', '-d', `pty,raw,echo=0,link=${devPath}`, `pty,raw,echo=0,link=${simPath}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const killSocat = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`socat did not set up the pty pair within ${SOCAT_START_TIMEOUT_MS} ms: ${output}`)), SOCAT_START_TIMEOUT_MS);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => {
        output += d;
        log.debug({ socat: d.trim() }, 'socat');
        if (output.includes('starting data transfer loop')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run socat: ${err.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited with ${String(code)} before the pty pair was ready: ${output}`));
      });
    });
    const port = new SerialPort({ path: simPath, baudRate: 9600, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    port.on('error', (err) => log.debug({ err }, 'PA simulator pty error'));
    return {
      devPath,
      port,
      close: async () => {
        if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
        await killSocat();
      },
    };
  } catch (err) {
    await killSocat();
    throw err;
  }
}

export async function startPaSimulator(opts: PaSimulatorOptions): Promise<PaSimulator> {
  const log = opts.log;
  const peers = new Set<Peer>();
  const decoders = new WeakMap<Peer, ReturnType<typeof createPayloadDecoder>>();
  const counters = { requests: 0, ignoredRequests: 0, badRequests: 0, garbageBytes: 0, badFrames: 0 };
  let unresponsive = false;

  const broadcast = (events: PaEvent[]): void => {
    for (const e of events) {
      const bytes = encode(e);
      for (const p of peers) p.write(bytes);
    }
  };
  const model = new PaControllerModel(
    {
      zones: opts.zones,
      messageDurationMs: opts.messageDurationMs ?? 5000,
      chimeDurationMs: opts.chimeDurationMs ?? 2000,
      messages: opts.messages ?? 64,
      model: opts.model ?? 'FHPA-SIM 1.0',
      clock: opts.clock,
    },
    broadcast,
  );

  const onData = (chunk: Buffer, peer: Peer): void => {
    let decoder = decoders.get(peer);
    if (!decoder) {
      decoder = createPayloadDecoder();
      decoders.set(peer, decoder);
    }
    const r = decoder.push(chunk);
    counters.garbageBytes += r.garbageBytes;
    counters.badFrames += r.badFrames;
    for (const payload of r.frames) {
      if (unresponsive) {
        counters.ignoredRequests++;
        continue;
      }
      const parsed = parsePayload(payload);
      if (!parsed.ok || !isRequest(parsed.frame)) {
        const seq = parsed.ok ? parsed.frame.seq : parsed.seq;
        const reason = parsed.ok ? `${parsed.frame.type} is not a request` : parsed.reason;
        counters.badRequests++;
        log.debug({ reason }, 'PA simulator: bad request');
        // Without a usable seq there is nobody to answer; the frame is dropped.
        if (seq !== null && seq > 0) peer.write(encode({ type: 'NAK', seq, code: 'BAD_REQUEST', text: reason }));
        continue;
      }
      counters.requests++;
      const out = model.handle(parsed.frame);
      log.debug({ request: parsed.frame.type, seq: parsed.frame.seq, answer: out.response.type }, 'PA simulator request');
      peer.write(encode(out.response));
      broadcast(out.events);
    }
  };

  // The pty first: if socat is missing we reject before anything is listening.
  const pty = opts.pty ? await openPtyPair(log) : null;
  if (pty) {
    const ptyPeer: Peer = {
      write: (bytes) => {
        if (pty.port.isOpen) pty.port.write(bytes);
      },
    };
    peers.add(ptyPeer);
    pty.port.on('data', (chunk: Buffer) => onData(chunk, ptyPeer));
  }

  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (sock) => {
    sockets.add(sock);
    const peer: Peer = {
      write: (bytes) => {
        if (!sock.destroyed && sock.writable) sock.write(bytes);
      },
    };
    peers.add(peer);
    sock.on('data', (chunk: Buffer) => onData(chunk, peer));
    sock.on('error', (err) => log.debug({ err }, 'PA simulator client error'));
    sock.on('close', () => {
      sockets.delete(sock);
      peers.delete(peer);
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if (pty) await pty.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  log.info({ port, ptyPath: pty?.devPath ?? null, zones: opts.zones }, 'PA simulator listening');

  let stopped: Promise<void> | null = null;
  return {
    port,
    ptyPath: pty?.devPath ?? null,
    log: () => model.played(),
    zoneState: (zone) => model.zoneState(zone),
    injectFault: (zone, description) => model.injectFault(zone, description),
    clearFault: (zone) => model.clearFault(zone),
    setUnresponsive: (on) => {
      unresponsive = on;
    },
    injectRaw: (bytes) => {
      for (const p of peers) p.write(bytes);
    },
    stats: () => ({ ...counters, clients: sockets.size }),
    stop: () => {
      stopped ??= (async () => {
        model.shutdown();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
        if (pty) await pty.close();
        peers.clear();
      })();
      return stopped;
    },
  };
}
