/**
 * The logger every layer is handed. It is pino's interface; the hub builds the instance
 * (`hub/log.ts`: redaction, level, destination), drivers and simulators only receive it.
 */
export type { Logger } from 'pino';
