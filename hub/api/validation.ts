import type { FastifySchemaValidationError } from 'fastify';

/** One field of a request that is wrong, in words a person reads (Chinese, then English). */
export interface FieldProblem {
  field: string;
  message: string;
}

type Params = Record<string, unknown>;

/** Type names as [Chinese, English]. */
const TYPE_WORDS: Record<string, readonly [string, string]> = {
  string: ['文本', 'text'],
  integer: ['整数', 'a whole number'],
  number: ['数字', 'a number'],
  boolean: ['true 或 false', 'true or false'],
  object: ['对象 {…}', 'an object {…}'],
  array: ['数组 […]', 'a list […]'],
  null: ['null', 'null'],
};

/** "应为整数或文本 / must be a whole number or text" for one or several types. */
function typeText(types: readonly unknown[]): string {
  const words = types.flatMap((t): unknown[] => (Array.isArray(t) ? (t as unknown[]) : [t])).map((t) => TYPE_WORDS[String(t)] ?? ([String(t), String(t)] as const));
  return `应为${words.map((w) => w[0]).join('或')} / must be ${words.map((w) => w[1]).join(' or ')}`;
}

function show(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Why one Ajv error failed, without the field name. */
function reason(e: FastifySchemaValidationError): string {
  const p = e.params as Params;
  switch (e.keyword) {
    case 'required':
      return '缺少此字段 / is required';
    case 'additionalProperties':
      return '不是已知字段 / is not a known field';
    case 'type':
      return typeText([p.type]);
    case 'minLength':
      return Number(p.limit) === 1 ? '不能为空 / must not be empty' : `至少 ${String(p.limit)} 个字符 / must have at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `最多 ${String(p.limit)} 个字符 / must have at most ${String(p.limit)} characters`;
    case 'minimum':
      return `不能小于 ${String(p.limit)} / must be at least ${String(p.limit)}`;
    case 'maximum':
      return `不能大于 ${String(p.limit)} / must be at most ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `必须大于 ${String(p.limit)} / must be more than ${String(p.limit)}`;
    case 'exclusiveMaximum':
      return `必须小于 ${String(p.limit)} / must be less than ${String(p.limit)}`;
    case 'minItems':
      return `至少 ${String(p.limit)} 项 / must list at least ${String(p.limit)} item(s)`;
    case 'maxItems':
      return `最多 ${String(p.limit)} 项 / must list at most ${String(p.limit)} item(s)`;
    case 'pattern':
      return `格式不对 / does not have the expected form (${String(p.pattern)})`;
    case 'const':
      return `应为 ${show(p.allowedValue)} / must be ${show(p.allowedValue)}`;
    case 'enum':
      return `应为以下之一 / must be one of: ${(p.allowedValues as unknown[]).map(show).join(', ')}`;
    case 'format':
      return `格式不对 / must be a valid ${String(p.format)}`;
    default:
      return `无效 / is invalid (${e.message ?? e.keyword})`;
  }
}

function fieldOf(ctx: string, e: Pick<FastifySchemaValidationError, 'instancePath' | 'keyword' | 'params'>): string {
  const p = e.params as Params;
  const parts = e.instancePath.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'required' && typeof p.missingProperty === 'string') parts.push(p.missingProperty);
  if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') parts.push(p.additionalProperty);
  return [ctx, ...parts.map((k) => (/^\d+$/.test(k) ? `[${k}]` : k))].join('.').replace(/\.\[/g, '[');
}

/**
 * Turns every Ajv error of a request into one problem per field. Union branches (a time
 * given as ISO text or epoch milliseconds, a status out of a list) collapse into one
 * "one of" message instead of one line per branch and a bare "must match a schema in anyOf".
 */
export function fieldProblems(ctx: string, errors: readonly FastifySchemaValidationError[]): FieldProblem[] {
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath));
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  const add = (field: string, message: string): void => {
    const key = `${field}\n${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ field, message });
  };
  for (const path of unions) {
    // A union that describes itself (TimeInput) says what it wants in its own words.
    const described = errors.find((e) => e.instancePath === path && (e.keyword === 'anyOf' || e.keyword === 'oneOf')) as { parentSchema?: { description?: unknown } } | undefined;
    const description = typeof described?.parentSchema?.description === 'string' ? described.parentSchema.description : null;
    const branch = errors.filter((e) => e.instancePath === path && e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
    const literals = branch.filter((e) => e.keyword === 'const').map((e) => (e.params as Params).allowedValue);
    const types = branch.filter((e) => e.keyword === 'type').map((e) => (e.params as Params).type);
    const field = fieldOf(ctx, { instancePath: path, keyword: 'union', params: {} });
    if (description) add(field, `应为${description.split(' / ')[0] ?? description} / must be ${description.split(' / ')[1] ?? description}`);
    else if (literals.length) add(field, `应为以下之一 / must be one of: ${literals.map(show).join(', ')}`);
    else if (types.length === branch.length && types.length) add(field, typeText(types));
    else add(field, `不符合任何允许的形式 / matches none of the allowed forms (${branch.map((e) => reason(e)).join('; ')})`);
  }
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    // A branch of a union at this path (or inside one) was reported above as a whole.
    if ([...unions].some((u) => e.instancePath === u || e.instancePath.startsWith(`${u}/`))) continue;
    add(fieldOf(ctx, e), reason(e));
  }
  return out;
}

/** "body.code 缺少此字段 / is required; body.start …" */
export function problemsText(problems: readonly FieldProblem[]): string {
  return problems.map((p) => `${p.field} ${p.message}`).join('; ');
}
