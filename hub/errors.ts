/**
 * The one catalogue of hub errors (style pattern 8). The HTTP API answers
 * `{ code, message, details? }` with the status listed here; MQTT answers carry the same codes.
 */
export const ERRORS = {
  HUB_ERR_BAD_REQUEST: { status: 400, message: 'The request is not valid' },
  HUB_ERR_VALIDATION: { status: 400, message: '请求无效 / Invalid request: %s' },
  HUB_ERR_UNAUTHENTICATED: { status: 401, message: 'Authentication required' },
  HUB_ERR_BAD_CREDENTIALS: { status: 401, message: 'Wrong username or password' },
  HUB_ERR_TOKEN_EXPIRED: { status: 401, message: 'The token has expired; log in again' },
  HUB_ERR_FORBIDDEN: { status: 403, message: 'Role %s may not do this' },
  HUB_ERR_NOT_FOUND: { status: 404, message: '%s not found' },
  HUB_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: '不支持的内容类型 / Unsupported content type %s: send application/json (rosters: application/json or text/csv)' },
  HUB_ERR_CONFLICT: { status: 409, message: '%s' },
  HUB_ERR_UNPROCESSABLE: { status: 422, message: '%s' },
  HUB_ERR_RATE_LIMITED: { status: 429, message: '%s' },
  HUB_ERR_DEVICE_UNAVAILABLE: { status: 503, message: 'Device %s is unavailable' },
  HUB_ERR_DEVICE_TIMEOUT: { status: 504, message: 'Device %s did not answer in time' },
  HUB_ERR_DEVICE_REJECTED: { status: 502, message: 'Device %s refused: %s' },
  HUB_ERR_NOT_READY: { status: 503, message: 'The hub is not ready' },
  HUB_ERR_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class HubError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, args: readonly string[] = [], details?: unknown) {
    let i = 0;
    const message = ERRORS[code].message.replace(/%s/g, () => args[i++] ?? '');
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function hubError(code: ErrorCode, ...args: string[]): HubError {
  return new HubError(code, args);
}
