/**
 * Structured logging: one JSON object per line, with secrets redacted by key wherever they appear.
 */
import { type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * Keys whose values never reach a log line, at any of the first levels of nesting.
 * Patient descriptions are listed too: line-item text is health data (docs/decisions/0009-health-data-stays-minimal.md).
 */
const SECRET_KEYS = [
  'authorization',
  'cookie',
  'password',
  'secret',
  'token',
  'tokens',
  'private_key',
  'privateKey',
  'mnemonic',
  'webhook_secret',
  'jwt_secret',
  'databaseUrl',
  'database_url',
  'description',
  'line_items',
];

const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** Creates the process logger; `destination` defaults to stdout. */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'clinicpay' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
