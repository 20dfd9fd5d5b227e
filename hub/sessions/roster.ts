import { parse as parseCsv } from 'csv-parse/sync';
import type { IdHasher } from '../privacy.js';
import { allowSeed } from '../checkin/allow-list.js';
import { checkIdNumber, maskIdNumber } from '../../kernel/id-number.js';

export interface RosterEntry {
  idHash: string;
  idMasked: string;
  name: string;
  role: string;
  /**
   * The slow seed of the offline allow-list (scrypt, on the thread pool), started here
   * because the clear number exists only here; null for observers, who never pass a gate.
   */
  allowSeed: Promise<string> | null;
}

export interface RowError {
  /** 1-based row of the upload (CSV: the data row, header excluded). */
  row: number;
  field: string;
  message: string;
}

export const ROSTER_ROLES = ['expert', 'leader', 'observer'] as const;

/** Reads a JSON array or a CSV text with the header `name,idNumber,role`. */
export function readRosterBody(body: unknown, contentType: string): { rows: unknown[] } | { error: string } {
  if (contentType.startsWith('text/csv')) {
    if (typeof body !== 'string') return { error: 'the CSV body is empty' };
    let records: Record<string, string>[];
    try {
      records = parseCsv(body.replace(/^\uFEFF/, ''), { columns: (h: string[]) => h.map((c) => c.trim()), skip_empty_lines: true, trim: true }) as Record<string, string>[];
    } catch (e) {
      return { error: `the CSV does not parse: ${(e as Error).message}` };
    }
    const header = records.length ? Object.keys(records[0]!) : [];
    if (records.length && (!header.includes('name') || !header.includes('idNumber'))) return { error: `the CSV header must be name,idNumber,role (found ${header.join(',')})` };
    return { rows: records };
  }
  if (!Array.isArray(body)) return { error: 'the body must be a JSON array of {name, idNumber, role?} or text/csv' };
  return { rows: body };
}

/**
 * Validates every row (all errors at once) and turns ID numbers into a keyed hash and a
 * masked form right here: the clear number goes no further than this function.
 */
export function validateRoster(rows: unknown[], hasher: IdHasher, site: string): { entries: RosterEntry[]; errors: RowError[] } {
  const entries: RosterEntry[] = [];
  const errors: RowError[] = [];
  const seen = new Map<string, number>();
  rows.forEach((raw, i) => {
    const row = i + 1;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      errors.push({ row, field: 'row', message: 'must be an object with name and idNumber' });
      return;
    }
    const r = raw as Record<string, unknown>;
    const allowed = new Set(['name', 'idNumber', 'role']);
    for (const k of Object.keys(r)) if (!allowed.has(k)) errors.push({ row, field: k, message: `unknown field ${k} (fields: name, idNumber, role)` });
    const name = typeof r.name === 'string' ? r.name.trim() : '';
    if (!name || name.length > 64) errors.push({ row, field: 'name', message: 'name must be 1 to 64 characters' });
    const role = r.role === undefined || r.role === '' ? 'expert' : r.role;
    if (typeof role !== 'string' || !(ROSTER_ROLES as readonly string[]).includes(role)) errors.push({ row, field: 'role', message: `role must be one of ${ROSTER_ROLES.join(', ')}` });
    // Spreadsheet cells often carry stray spaces: an import trims them (a gate never does).
    const id = checkIdNumber(typeof r.idNumber === 'string' ? r.idNumber.trim() : r.idNumber);
    if (!id.ok) {
      errors.push({ row, field: 'idNumber', message: `idNumber is not a valid resident ID number (${id.reason})` });
      return;
    }
    const idHash = hasher.hash(id.normalized);
    const first = seen.get(idHash);
    if (first !== undefined) {
      errors.push({ row, field: 'idNumber', message: `the same person as row ${first} (${maskIdNumber(id.normalized)})` });
      return;
    }
    seen.set(idHash, row);
    if (name && typeof role === 'string') {
      const seed = role === 'observer' ? null : allowSeed(id.normalized, site);
      // Awaited by replaceRoster; a rejected upload never awaits it, so it must not be "unhandled".
      seed?.catch(() => undefined);
      entries.push({ idHash, idMasked: maskIdNumber(id.normalized), name, role, allowSeed: seed });
    }
  });
  return { entries, errors };
}
