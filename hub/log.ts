import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log record: tokens, passwords and
 * resident ID numbers never reach a log (privacy standard).
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'idNumber',
  '*.idNumber',
  '*.*.idNumber',
];

export interface LogOptions {
  level?: string;
  /** Where JSON lines go; defaults to stdout. Tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Pretty print: only when writing to a terminal. */
  pretty?: boolean;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const base: LoggerOptions = {
    level: opts.level ?? process.env.FH_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { app: 'facility-hub' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty ?? process.stdout.isTTY) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base);
}

/** A logger that writes nothing, for tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Masks a person's name for logs: keeps the first character only ("张**"). */
export function maskName(name: string): string {
  const chars = Array.from(name.trim());
  if (chars.length === 0) return '';
  return chars[0] + '*'.repeat(Math.max(1, chars.length - 1));
}
