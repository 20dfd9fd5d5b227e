/**
 * Drivers return typed results instead of throwing across the seam: a caller always
 * sees either a value or a classified failure it can count, log once and retry.
 */
export type DriverErrorKind =
  | 'timeout'
  | 'disconnected'
  | 'exception' // the device answered with a protocol exception (e.g. Modbus exception code)
  | 'protocol' // garbage, bad CRC, a frame that does not parse
  | 'rejected' // the device answered "no" (negative acknowledgement)
  | 'invalid-argument';

export interface DriverError {
  kind: DriverErrorKind;
  message: string;
  /** Protocol-specific code, e.g. a Modbus exception code. */
  code?: number | string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: DriverError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(kind: DriverErrorKind, message: string, code?: number | string): Result<T> {
  return code === undefined ? { ok: false, error: { kind, message } } : { ok: false, error: { kind, message, code } };
}
