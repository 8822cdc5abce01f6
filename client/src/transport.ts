/**
 * One call of one operation of the contract: the URL from its path template and query, the
 * credentials, an `Idempotency-Key` for every operation that takes one, a timeout per attempt,
 * and retries where a retry cannot do the work twice.
 *
 * What is retried (at most `maxRetries` times, 2 by default):
 * - no answer (connection refused or cut, timeout) and the answers 429, 500, 502, 503 and 504;
 * - for GET, DELETE and PATCH, which set a state rather than add to it, and for every POST that
 *   carries an `Idempotency-Key`: the gateway does the work of one key once and replays its
 *   first answer to the retry. Nothing else is retried.
 *
 * The wait before a retry is what the gateway's `Retry-After` asks when it sends one (a longer
 * wait than `maxRetryAfterSeconds` is not waited: the error is thrown at once), and otherwise
 * 0.5 s doubled for each retry, up to 8 s, with jitter.
 */
import { OPERATIONS, type OperationId, type Operations } from './api.js';
import { apiErrorFor, ClinicPayError, ConnectionError, type ProblemDetails, retryAfterSeconds, TimeoutError } from './errors.js';

export const CLIENT_VERSION = '0.1.0';

export interface ClinicPayOptions {
  /** The clinic's API key (`cpk_live_…`, `cpk_test_…`), or a bearer token. */
  apiKey: string;
  /** Where the gateway is served, e.g. `https://pay.example-clinic.hk`; a trailing `/v1` is ignored. */
  baseUrl: string;
  /** Retries after a failure that may be retried (see above). Default 2. */
  maxRetries?: number;
  /** Time for one attempt, answer included, in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** The longest `Retry-After` waited for before a retry; a longer one throws at once. Default 60 seconds. */
  maxRetryAfterSeconds?: number;
  /** The `fetch` to use; the platform's by default. */
  fetch?: typeof fetch;
}

/** Per call. */
export interface RequestOptions {
  /** The `Idempotency-Key` to send; one is generated for every POST that takes it when not given. Reuse it to retry a call yourself. */
  idempotencyKey?: string;
  maxRetries?: number;
  timeoutMs?: number;
  /** Cancels the call (and its retries). */
  signal?: AbortSignal;
}

type Defined<T> = [T] extends [never] ? undefined : T;

/** The parts of one call of operation `Op`, typed from the contract. */
export interface CallArgs<Op extends OperationId> {
  path?: Defined<Operations[Op]['path']>;
  query?: Defined<Operations[Op]['query']>;
  body?: Defined<Operations[Op]['body']>;
}

export type Answer = 'json' | 'text' | 'binary';

const RETRIED_STATUSES = new Set([429, 500, 502, 503, 504]);
const SET_STATE_METHODS = new Set(['GET', 'DELETE', 'PATCH']);

export class Transport {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  readonly #timeoutMs: number;
  readonly #maxRetryAfterSeconds: number;

  constructor(options: ClinicPayOptions) {
    if (typeof options?.apiKey !== 'string' || options.apiKey.trim() === '') throw new TypeError('ClinicPay: apiKey is required');
    if (typeof options.baseUrl !== 'string') throw new TypeError('ClinicPay: baseUrl is required, e.g. https://pay.example-clinic.hk');
    const base = new URL(options.baseUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('ClinicPay: baseUrl must be an http(s) URL');
    this.baseUrl = base.href.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#maxRetries = option(options.maxRetries, 2, 'maxRetries', 0);
    this.#timeoutMs = option(options.timeoutMs, 30_000, 'timeoutMs', 1);
    this.#maxRetryAfterSeconds = option(options.maxRetryAfterSeconds, 60, 'maxRetryAfterSeconds', 0);
  }

  /** Calls `operationId` and answers its JSON (or text, for operations that answer text). */
  call<Op extends OperationId>(operationId: Op, args: CallArgs<Op>, options?: RequestOptions): Promise<Operations[Op]['response']> {
    const answer = OPERATIONS[operationId].answer;
    return this.send(operationId, args, options, answer === 'none' ? 'text' : answer) as Promise<Operations[Op]['response']>;
  }

  /** Calls `operationId` and answers the body's bytes, whatever its type (a PDF, a CSV file). */
  download<Op extends OperationId>(operationId: Op, args: CallArgs<Op>, options?: RequestOptions): Promise<Uint8Array> {
    return this.send(operationId, args, options, 'binary') as Promise<Uint8Array>;
  }

  async send<Op extends OperationId>(operationId: Op, args: CallArgs<Op>, options: RequestOptions | undefined, answer: Answer): Promise<unknown> {
    const operation = OPERATIONS[operationId];
    const url = this.url(operation.path, args.path as Record<string, unknown> | undefined, args.query as Record<string, unknown> | undefined);
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#apiKey}`,
      Accept: answer === 'json' ? 'application/json' : '*/*',
      'User-Agent': `clinicpay-client/${CLIENT_VERSION}`,
    };
    const idempotencyKey = operation.idempotencyKey ? (options?.idempotencyKey ?? globalThis.crypto.randomUUID()) : undefined;
    if (idempotencyKey !== undefined) headers['Idempotency-Key'] = idempotencyKey;
    const body = args.body === undefined ? undefined : JSON.stringify(args.body);
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const retryable = SET_STATE_METHODS.has(operation.method) || idempotencyKey !== undefined;
    const maxRetries = retryable ? option(options?.maxRetries, this.#maxRetries, 'maxRetries', 0) : 0;
    const timeoutMs = option(options?.timeoutMs, this.#timeoutMs, 'timeoutMs', 1);

    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options?.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let response: Response;
      let payload: unknown;
      try {
        response = await this.#fetch(url, { method: operation.method, headers, body, signal, redirect: 'manual' });
        payload = response.ok ? await read(response, answer) : await readProblem(response);
      } catch (error) {
        if (options?.signal?.aborted) throw options.signal.reason;
        // An answer came, but not the JSON the contract promises (a proxy's page): asking again will not help.
        if (error instanceof SyntaxError) throw new ClinicPayError(`${operation.method} ${operation.path}: the answer is not JSON`, { cause: error });
        const timedOut = timeout.aborted;
        if (attempt < maxRetries) {
          await sleep(backoffMs(attempt), options?.signal);
          continue;
        }
        const tries = attempt === 0 ? '' : ` (${attempt + 1} attempts)`;
        if (timedOut) throw new TimeoutError(`${operation.method} ${operation.path}: no answer within ${timeoutMs} ms${tries}`, { cause: error });
        throw new ConnectionError(`${operation.method} ${operation.path}: ${describe(error)}${tries}`, { cause: error });
      }
      if (response.ok) return payload;
      if (attempt < maxRetries && RETRIED_STATUSES.has(response.status)) {
        const asked = retryAfterSeconds(response.headers);
        if (asked === undefined || asked <= this.#maxRetryAfterSeconds) {
          await sleep(asked === undefined ? backoffMs(attempt) : asked * 1000, options?.signal);
          continue;
        }
      }
      throw apiErrorFor(response.status, payload as ProblemDetails, response.headers);
    }
  }

  /** The URL of a path template with its parameters filled in and the query's defined values. */
  url(template: string, path: Record<string, unknown> | undefined, query: Record<string, unknown> | undefined): string {
    const filled = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = path?.[name];
      if (value === undefined || value === null || value === '') throw new TypeError(`ClinicPay: ${template} needs ${name}`);
      return encodeURIComponent(String(value));
    });
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined && value !== null) search.append(name, String(value));
    const text = search.toString();
    return `${this.baseUrl}${filled}${text ? `?${text}` : ''}`;
  }
}

async function read(response: Response, answer: Answer): Promise<unknown> {
  if (answer === 'binary') return new Uint8Array(await response.arrayBuffer());
  const text = await response.text();
  if (answer === 'text') return text;
  return text === '' ? undefined : JSON.parse(text);
}

/** The problem details of an error answer; a body that is not one is described, never dropped. */
async function readProblem(response: Response): Promise<ProblemDetails> {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text) as ProblemDetails;
    if (parsed && typeof parsed === 'object' && typeof parsed.title === 'string') return parsed;
  } catch {
    // Not JSON: a proxy's page, most likely.
  }
  return {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    code: response.status >= 500 ? 'internal_error' : 'unexpected_answer',
    detail: text.slice(0, 200) || undefined,
  } as ProblemDetails;
}

function backoffMs(attempt: number): number {
  const ceiling = Math.min(8_000, 500 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

/** A numeric option, `fallback` when not given; below `least` (or not a number) is a programming error. */
function option(value: number | undefined, fallback: number, name: string, least: 0 | 1): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < least) throw new TypeError(`ClinicPay: ${name} must be a number of ${least} or more`);
  return value;
}
