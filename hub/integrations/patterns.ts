/**
 * Topic patterns of integration accounts (MQTT 3.1.1 filters with `+` and `#`), as pure
 * functions: validation, and the three relations the ACL needs (a topic matches a
 * pattern; a requested filter is covered by a pattern; two filters can match a common topic).
 */

/** Longest pattern accepted, in characters, and most levels (the broker's maxTopicLevels is 8). */
export const MAX_PATTERN_LENGTH = 256;
export const MAX_PATTERN_LEVELS = 8;

/** Why a filter is not a valid MQTT filter, or null. [MQTT-4.7.1-2], [MQTT-4.7.1-3] */
export function filterProblem(filter: string): string | null {
  if (filter.length === 0) return '不能为空 / must not be empty';
  if (filter.length > MAX_PATTERN_LENGTH) return `最长 ${MAX_PATTERN_LENGTH} 个字符 / must be at most ${MAX_PATTERN_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(filter)) return '不能含控制字符 / must not contain control characters';
  if (filter.startsWith('$')) return '不能以 $ 开头（系统主题）/ must not start with $ (system topics)';
  const levels = filter.split('/');
  if (levels.length > MAX_PATTERN_LEVELS) return `最多 ${MAX_PATTERN_LEVELS} 级 / must have at most ${MAX_PATTERN_LEVELS} levels`;
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '“#” 只能单独作为最后一级 / "#" must be a whole level and the last one';
    if (l.includes('+') && l !== '+') return '“+” 必须单独占一级 / "+" must be a whole level';
  }
  return null;
}

/** Does `topic` (no wildcards) match `pattern`? */
export function topicMatches(pattern: string, topic: string): boolean {
  if (topic.startsWith('$')) return false; // [MQTT-4.7.2-1]: wildcards at the first level never match $ topics
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= t.length) return false;
    if (p[i] !== '+' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/** Is every topic that `filter` matches also matched by `pattern`? (a subscription within an allowed pattern) */
export function filterCovered(pattern: string, filter: string): boolean {
  if (filter.startsWith('$')) return false;
  const p = pattern.split('/');
  const f = filter.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= f.length) return false;
    if (f[i] === '#') return false; // the filter reaches further than the pattern allows
    if (p[i] === '+') continue;
    if (f[i] === '+' || f[i] !== p[i]) return false;
  }
  return p.length === f.length;
}

/** Could some topic match both filters? */
export function filtersIntersect(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    if (x[i] === '#' || y[i] === '#') return true;
    if (i >= x.length || i >= y.length) return x.length === y.length;
    if (x[i] !== '+' && y[i] !== '+' && x[i] !== y[i]) return false;
  }
}

/** One wrong entry of an account's input, by its field path (`subscribe[1]`). */
export interface PatternProblem {
  field: string;
  message: string;
}

/**
 * Checks an account's patterns: each a valid filter; a subscribe pattern never reaches a
 * gate's `verify` topic (it carries the clear ID number, which no other system may read);
 * a publish pattern never reaches a device's topics (`fh/{site}/{deviceId}/…`) or the hub's
 * (`fh/{site}/hub/…`): an integration never speaks as a device or as the hub.
 */
export function patternProblems(site: string, deviceIds: readonly string[], subscribe: readonly string[], publish: readonly string[]): PatternProblem[] {
  const problems: PatternProblem[] = [];
  const check = (field: string, list: readonly string[], reserved: (p: string) => string | null): void => {
    list.forEach((p, i) => {
      const f = `${field}[${i}]`;
      const bad = filterProblem(p) ?? reserved(p);
      if (bad) problems.push({ field: f, message: `${f} "${p}": ${bad}` });
    });
  };
  check('subscribe', subscribe, (p) => (readsVerify(site, deviceIds, p) ? `可读到闸机核验报文（含身份证号明文）/ would read the gates' verify messages (clear ID numbers): narrow it, e.g. fh/${site}/+/status` : null));
  check('publish', publish, (p) => {
    if (filtersIntersect(p, `fh/${site}/hub/#`)) return `会以中心主机身份发布（fh/${site}/hub/…）/ would publish as the hub (fh/${site}/hub/…)`;
    const device = deviceIds.find((d) => filtersIntersect(p, `fh/${site}/${d}/#`));
    return device ? `会以设备 ${device} 身份发布 / would publish as the device ${device} (fh/${site}/${device}/…)` : null;
  });
  return problems;
}

/** Could a subscription to `filter` receive a device's `verify` message (the clear ID number)? */
export function readsVerify(site: string, deviceIds: readonly string[], filter: string): boolean {
  return deviceIds.some((d) => filtersIntersect(filter, `fh/${site}/${d}/verify`));
}

/** At publish time: a topic inside a device's or the hub's tree is refused even if a pattern matched (a device added to the config later). */
export function reservedTopic(site: string, isDevice: (id: string) => boolean, topic: string): boolean {
  const [root, s, owner] = topic.split('/');
  return root === 'fh' && s === site && owner !== undefined && (owner === 'hub' || isDevice(owner));
}
