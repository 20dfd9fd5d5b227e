import { Type } from '@sinclair/typebox';

export const ErrorSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});

/** ISO-8601 with offset, or epoch milliseconds (the contract accepts both). */
export const TimeInput = Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })]);
