import { Type } from '@sinclair/typebox';

export const ErrorSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});

/** ISO-8601 with offset, or epoch milliseconds (the contract accepts both). */
export const TimeInput = Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })], {
  // "Chinese / English": validation errors quote it as what the field must be.
  description: '带时区的 ISO-8601 时间（如 2026-11-28T09:30:00+08:00）或毫秒时间戳 / an ISO-8601 time with an offset (such as 2026-11-28T09:30:00+08:00) or epoch milliseconds',
});
