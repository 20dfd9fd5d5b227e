/**
 * Times on the wire: the hub writes ISO-8601 with the site's offset and accepts both
 * ISO-8601 (with an offset or Z) and epoch milliseconds (contract "Names").
 */
export function parseTime(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 && value < 8.64e15 ? Math.trunc(value) : null;
  if (typeof value !== 'string') return null;
  // An offset is required: a bare local time would be ambiguous on a hub in another zone.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

/** Formats epoch ms as ISO-8601 in a fixed offset such as "+08:00". */
export function formatTime(ms: number, offset = '+08:00'): string {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) return new Date(ms).toISOString();
  const sign = m[1] === '-' ? -1 : 1;
  const minutes = sign * (Number(m[2]) * 60 + Number(m[3]));
  const local = new Date(ms + minutes * 60_000).toISOString(); // "YYYY-MM-DDTHH:mm:ss.sssZ"
  return `${local.slice(0, 23)}${offset}`;
}
