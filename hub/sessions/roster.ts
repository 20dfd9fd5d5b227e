import { parse as parseCsv } from 'csv-parse/sync';
import iconv from 'iconv-lite';
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

/** Charsets a roster CSV may declare: UTF-8, or the GB family Excel on Chinese Windows writes. */
const UTF8_NAMES = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);
const GB_NAMES = new Set(['gb18030', 'gbk', 'gb2312', 'cp936', 'windows-936']);

/**
 * Decodes an uploaded CSV. Excel on a Chinese Windows PC saves "CSV" as GBK (a subset of
 * GB18030) and "CSV UTF-8" with a BOM; platforms send UTF-8 without one. A declared charset
 * is honoured (and must then decode); without one, a UTF-8 BOM or bytes that are valid
 * UTF-8 are UTF-8 (GBK text is practically never valid UTF-8), anything else is read as
 * GB18030. What decodes to neither is refused rather than stored as garbled names.
 */
export function decodeRosterCsv(body: Buffer, contentType: string): { text: string } | { error: string } {
  if (body.length === 0) return { error: '名单为空 / the CSV body is empty' };
  const declared = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType)?.[1]?.toLowerCase();
  if (declared !== undefined && !UTF8_NAMES.has(declared) && !GB_NAMES.has(declared)) {
    return { error: `不支持的字符集 / unsupported charset ${declared}: send UTF-8 or GB18030/GBK` };
  }
  if ((body[0] === 0xff && body[1] === 0xfe) || (body[0] === 0xfe && body[1] === 0xff)) {
    return { error: '名单是 UTF-16 编码 / the CSV is UTF-16 (Excel "Unicode text"): save it as "CSV UTF-8" or "CSV"' };
  }
  const bom = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
  let text: string | null = null;
  if (bom || declared === undefined || UTF8_NAMES.has(declared)) {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
    } catch {
      if (bom || declared !== undefined) return { error: `名单不是有效的 UTF-8 / the CSV is not valid UTF-8${bom ? ' although it starts with a UTF-8 BOM' : ` although the content type says charset=${declared}`}` };
    }
  }
  if (text === null) {
    // iconv-lite marks byte sequences GB18030 does not define with U+FFFD.
    text = iconv.decode(body, 'gb18030');
    if (text.includes('\uFFFD')) return { error: '名单编码无法识别 / the CSV is neither UTF-8 nor GB18030/GBK text: save it from Excel as "CSV UTF-8"' };
  }
  // Binary (a spreadsheet file sent as text/csv, say) decodes without errors as GB18030 but carries control characters.
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) return { error: '名单含有控制字符 / the CSV contains control characters: is it an .xlsx file? Save it as CSV' };
  return { text };
}

const ID_LIKE = /^\d{17}[\dXx]$/;

/**
 * Reads a JSON array or a CSV text with the header `name,idNumber,role`. A body that gives
 * no rows is an error: an upload that would empty a roster is never what was meant.
 */
export function readRosterBody(body: unknown, contentType: string): { rows: unknown[] } | { error: string } {
  if (contentType.startsWith('text/csv')) {
    const decoded = Buffer.isBuffer(body) ? decodeRosterCsv(body, contentType) : typeof body === 'string' ? { text: body } : { error: '名单为空 / the CSV body is empty' };
    if ('error' in decoded) return decoded;
    let records: string[][];
    try {
      records = parseCsv(decoded.text.replace(/^\uFEFF/, ''), { skip_empty_lines: true, trim: true }) as string[][];
    } catch (e) {
      // csv-parse may quote the offending field ("value is ..."), which can be an ID number.
      return { error: `CSV 格式错误 / the CSV does not parse: ${(e as Error).message.replace(/,? value is .*$/s, '')}` };
    }
    if (records.length === 0) return { error: '名单为空 / the CSV has no lines (expected the header name,idNumber,role and one line per person)' };
    const header = records[0]!.map((c) => c.trim());
    if (!header.includes('name') || !header.includes('idNumber')) {
      // A file without its header starts with a person: say so without echoing the ID number.
      const looksLikeData = header.some((c) => ID_LIKE.test(c));
      return {
        error: looksLikeData
          ? 'CSV 缺少表头 / the CSV has no header: its first line is a person; add the line name,idNumber,role first'
          : `CSV 表头错误 / the CSV header must be name,idNumber,role (found ${header.join(',')})`,
      };
    }
    if (records.length === 1) return { error: '名单没有人员 / the CSV has a header but no people' };
    // Excel leaves trailing empty columns ("name,idNumber,role,,"): ignored where they are empty.
    const rows: Record<string, string>[] = records.slice(1).map((cells) => Object.fromEntries(header.map((h, i): [string, string] => [h, cells[i] ?? '']).filter(([h, v]) => h !== '' || v !== '')));
    return { rows };
  }
  if (!Array.isArray(body)) return { error: '名单格式错误 / the body must be a JSON array of {name, idNumber, role?} or text/csv' };
  if (body.length === 0) return { error: '名单为空 / the roster has no people (an empty JSON array)' };
  return { rows: body };
}

/**
 * Validates every row (all errors at once) and turns ID numbers into a keyed hash and a
 * masked form right here: the clear number goes no further than this function.
 */
export function validateRoster(rows: unknown[], hasher: IdHasher, site: string, now: number): { entries: RosterEntry[]; errors: RowError[] } {
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
    const id = checkIdNumber(typeof r.idNumber === 'string' ? r.idNumber.trim() : r.idNumber, now);
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
