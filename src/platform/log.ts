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

/** What a log line says of an error: its kind, its code, one safe line, and the code path. */
export interface ErrorSummary {
  kind: string;
  code?: string;
  /** Postgres names what a database error is about (never the values). */
  table?: string;
  constraint?: string;
  column?: string;
  message: string;
  /** Stack frames only: the file and line of each call, no message text. */
  frames?: string;
}

/** Where URLs stand in a message: their paths and queries may carry API keys. */
const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;

/**
 * An error as a log line may carry it, whatever the error. Messages can hold what a caller
 * sent (a database error quotes the values it refused) or where a secret lives (an RPC URL with
 * its API key in the path), so: a database error is logged by its SQLSTATE code and the names
 * Postgres gives (table, constraint, column) and never its text; any other error by the first
 * line of its message, URLs replaced by `<url>`, at most 200 characters; and the stack by its
 * frames only. Log this, never the error object itself.
 */
export function errorSummary(error: unknown): ErrorSummary {
  if (!(error instanceof Error)) return { kind: typeof error, message: 'a thrown value that is not an Error' };
  const fields = error as Error & { code?: unknown; table?: unknown; constraint?: unknown; column?: unknown; severity?: unknown; routine?: unknown };
  const frames = error.stack
    ?.split('\n')
    .filter((line) => line.startsWith('    at '))
    .slice(0, 12)
    .map((line) => line.trim().replace(URL_PATTERN, '<url>'))
    .join('\n');
  const summary: ErrorSummary = { kind: error.name, message: '', ...(frames ? { frames } : {}) };
  if (typeof fields.code === 'string') summary.code = fields.code;
  // node-postgres's DatabaseError: a severity and a SQLSTATE; its message quotes values.
  if (typeof fields.severity === 'string' && typeof fields.routine === 'string') {
    for (const name of ['table', 'constraint', 'column'] as const) if (typeof fields[name] === 'string') summary[name] = fields[name] as string;
    summary.message = `database error ${summary.code ?? ''}`.trim();
    return summary;
  }
  summary.message = (error.message.split('\n')[0] ?? '').replace(URL_PATTERN, '<url>').slice(0, 200);
  return summary;
}
