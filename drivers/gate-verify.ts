import { parseTime } from '../kernel/time.js';

/** A gate's `verify` request as the contract defines it (the ID number still in clear). */
export interface VerifyRequest {
  requestId: string;
  idNumber: string;
  name: string;
  faceScore: number;
  liveness: boolean;
  ts: number | null;
}

export type ParsedVerify = { ok: true; request: VerifyRequest } | { ok: false; requestId: string | null; reason: string };

/** Checks the shape; the ID number's validity is the decision's first step, not this one's. */
export function parseVerify(payload: unknown): ParsedVerify {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { ok: false, requestId: null, reason: 'verify must be a JSON object' };
  const p = payload as Record<string, unknown>;
  const requestId = typeof p.requestId === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(p.requestId) ? p.requestId : null;
  if (!requestId) return { ok: false, requestId: null, reason: 'requestId must be 1 to 64 characters of A-Z a-z 0-9 . _ : -' };
  if (typeof p.idNumber !== 'string') return { ok: false, requestId, reason: 'idNumber must be a string' };
  if (p.name !== undefined && typeof p.name !== 'string') return { ok: false, requestId, reason: 'name must be a string' };
  if (typeof p.faceScore !== 'number' || !Number.isFinite(p.faceScore) || p.faceScore < 0 || p.faceScore > 1) return { ok: false, requestId, reason: 'faceScore must be a number from 0 to 1' };
  if (typeof p.liveness !== 'boolean') return { ok: false, requestId, reason: 'liveness must be true or false' };
  let ts: number | null = null;
  if (p.ts !== undefined) {
    ts = parseTime(p.ts);
    if (ts === null) return { ok: false, requestId, reason: 'ts must be ISO-8601 with an offset or epoch milliseconds' };
  }
  return { ok: true, request: { requestId, idNumber: p.idNumber, name: typeof p.name === 'string' ? p.name : '', faceScore: p.faceScore, liveness: p.liveness, ts } };
}

/** The contract's `verify/result`. */
export interface VerifyAnswer {
  requestId: string;
  decision: 'grant' | 'deny';
  reason: string;
  message: string;
  sessionId?: string;
  room?: string;
  seat?: number;
}
