/**
 * The webhook dispatcher: takes due events from the outbox and POSTs them, signed, to each
 * clinic's webhook URL.
 *
 * One pass ({@link dispatchDueWebhooks}) claims a batch in one short statement — `FOR UPDATE
 * SKIP LOCKED`, pushing each claimed event's `next_attempt_at` forward by a lease — so another
 * dispatcher (another gateway process) neither waits for nor sends the same events. Delivery
 * then happens outside any transaction, and each attempt's outcome is written back with a
 * delivery log row. The lease value doubles as the claim token: an outcome is applied only
 * while the event still carries it, so a lease that ran out (and was claimed again) or a
 * redelivery requested meanwhile is never overwritten.
 *
 * Delivery is at least once: a process that dies after the receiver answered but before the
 * outcome is written sends that event again when the lease runs out. Receivers drop duplicates
 * by event id.
 *
 * Retry schedule (see {@link webhookRetryDelayMs}): after the n-th failed attempt the event is
 * due again in 30 s × 2^(n−1), capped at 6 h, plus up to 10 % jitter — 30 s, 1 min, 2 min, 4 min,
 * 8 min, 16 min, 32 min, 64 min, 128 min, … With the default 10 attempts, the 10th failure
 * (about 4 h 15 min after the first) marks the event `failed`; `POST
 * /v1/webhooks/events/{id}/redeliver` starts it over.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { webhookSigningSecrets } from '../billing/clinics.js';
import type { Db } from '../platform/db.js';
import { failpoint, planted } from '../platform/failpoints.js';
import type { Logger } from '../platform/log.js';
import { type SecretBox, SecretUnreadableError } from '../platform/secretBox.js';
import { signWebhookPayload, WEBHOOK_SIGNATURE_HEADER } from './signature.js';

export const WEBHOOK_USER_AGENT = 'ClinicPay-Webhooks/1';
export const DEFAULT_WEBHOOK_FETCH_TIMEOUT_MS = 10_000;
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 10;
export const DEFAULT_WEBHOOK_BATCH_SIZE = 20;
/** Upper bounds of the settings, so a misconfiguration cannot make a pass unbounded. */
export const MAX_WEBHOOK_BATCH_SIZE = 100;
export const MAX_WEBHOOK_ATTEMPTS = 50;
export const MAX_WEBHOOK_FETCH_TIMEOUT_MS = 60_000;
export const WEBHOOK_RETRY_BASE_MS = 30_000;
export const WEBHOOK_RETRY_CAP_MS = 6 * 3600_000;
/** Up to this fraction of the delay is added at random, so retries of many events spread out. */
export const WEBHOOK_RETRY_JITTER = 0.1;
/** The lease outlasts the longest attempt by this much (time to record the outcome). */
const LEASE_MARGIN_MS = 60_000;
/** Stored error texts are cut to this length. */
const MAX_ERROR_LENGTH = 500;

export interface DispatchDueWebhooksParameters {
  db: Db;
  logger: Logger;
  /** Opens the clinics' sealed webhook secrets. */
  secrets: SecretBox;
  /** Per request, from connecting to the response headers. Default 10 000 ms. */
  fetchTimeoutMs?: number;
  /** After this many failed attempts an event is `failed`. Default 10. */
  maxAttempts?: number;
  /** Events claimed (and sent, concurrently) per pass. Default 20, at most 100. */
  batchSize?: number;
  /** The clock: what is due, the signature timestamp, the retry schedule. Default: real time. */
  now?: () => Date;
  /** Uniform in [0, 1), for retry jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * Addresses or CIDR ranges that may be called although they are not public (a development
   * receiver on loopback). Default none: a webhook host that resolves to a loopback, private,
   * link-local or other non-public address is refused at connect time.
   */
  allowedNetworks?: readonly string[];
}

export interface DispatchDueWebhooksReturnType {
  /** Answered 2xx. */
  delivered: number;
  /** Refused or unreachable on their last allowed attempt: given up. */
  failed: number;
  /** Refused or unreachable, due again later. */
  retried: number;
  /** The clinic has no webhook URL: nothing sent, nothing will be. */
  skipped: number;
}

/** A claimed event with where and how to sign it. */
interface ClaimedEvent {
  id: string;
  clinic_id: string;
  type: string;
  payload: { object: unknown };
  attempts: number;
  created_at: Date;
  webhook_url: string | null;
  webhook_secret: string;
  webhook_secret_previous: string | null;
  webhook_secret_previous_until: Date | null;
}

type AttemptResult = { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string };

/**
 * One dispatcher pass: claims up to `batchSize` due events, sends them concurrently, records
 * each attempt, and says what became of them. Call it in a loop (the worker does); a pass with
 * nothing due costs one indexed query.
 *
 * @example
 * const outcome = await dispatchDueWebhooks({ db, logger, secrets });
 * // → { delivered: 3, failed: 0, retried: 1, skipped: 0 }
 */
export async function dispatchDueWebhooks(deps: DispatchDueWebhooksParameters): Promise<DispatchDueWebhooksReturnType> {
  const fetchTimeoutMs = bounded('fetchTimeoutMs', deps.fetchTimeoutMs ?? DEFAULT_WEBHOOK_FETCH_TIMEOUT_MS, MAX_WEBHOOK_FETCH_TIMEOUT_MS);
  const maxAttempts = bounded('maxAttempts', deps.maxAttempts ?? DEFAULT_WEBHOOK_MAX_ATTEMPTS, MAX_WEBHOOK_ATTEMPTS);
  const batchSize = bounded('batchSize', deps.batchSize ?? DEFAULT_WEBHOOK_BATCH_SIZE, MAX_WEBHOOK_BATCH_SIZE);
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;

  // Agents that check every address a host resolves to, when connecting (so a DNS answer that
  // changes after the URL was checked cannot point the gateway inward).
  const allowed = { allowIPAddressList: [...(deps.allowedNetworks ?? [])], keepAlive: false };
  const agents: Agents = { http: new RequestFilteringHttpAgent(allowed), https: new RequestFilteringHttpsAgent(allowed) };

  const claimedAt = now();
  // Every event of the batch is sent at once, so one lease covers the slowest of them.
  const leaseUntil = new Date(claimedAt.getTime() + fetchTimeoutMs + LEASE_MARGIN_MS);
  const claimed = await claimDueEvents(deps.db, claimedAt, leaseUntil, batchSize);

  const outcome: DispatchDueWebhooksReturnType = { delivered: 0, failed: 0, retried: 0, skipped: 0 };
  const settled = await Promise.allSettled(
    claimed.map(async (event) => {
      outcome[await deliverOne(deps, event, { leaseUntil, fetchTimeoutMs, maxAttempts, now, random, agents })] += 1;
    }),
  );
  const failure = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  // The other events' outcomes are recorded; the first error (e.g. the database went away) is the caller's.
  if (failure) throw failure.reason;
  return outcome;
}

/**
 * How long after the `attempt`-th failed attempt (1-based) an event is due again:
 * 30 s × 2^(attempt−1), capped at 6 h, plus up to 10 % jitter from `random()` ∈ [0, 1).
 */
export function webhookRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(WEBHOOK_RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1), WEBHOOK_RETRY_CAP_MS);
  return Math.round(base * (1 + WEBHOOK_RETRY_JITTER * random()));
}

/** The request body of an event: `{id, type, created, data}`, `created` in unix seconds. */
export function webhookRequestBody(event: { id: string; type: string; created_at: Date; payload: { object: unknown } }): string {
  return JSON.stringify({ id: event.id, type: event.type, created: Math.floor(event.created_at.getTime() / 1000), data: event.payload.object });
}

/**
 * Claims due events in one statement (its own short transaction): rows another dispatcher is
 * claiming are skipped, not waited for, and a row it claimed a moment ago is no longer due.
 */
async function claimDueEvents(db: Db, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedEvent[]> {
  const result = (await db.raw(
    `WITH due AS (
       SELECT id FROM webhook_events
       WHERE status = 'pending' AND next_attempt_at <= ?
       ORDER BY next_attempt_at, created_at, id
       LIMIT ?
       FOR UPDATE SKIP LOCKED
     )
     UPDATE webhook_events AS e
     SET next_attempt_at = ?
     FROM due, clinics AS c
     WHERE e.id = due.id AND c.id = e.clinic_id
     RETURNING e.id, e.clinic_id, e.type, e.payload, e.attempts, e.created_at,
               c.webhook_url, c.webhook_secret, c.webhook_secret_previous, c.webhook_secret_previous_until`,
    [now, limit, leaseUntil],
  )) as { rows: ClaimedEvent[] };
  return result.rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.id.localeCompare(b.id));
}

interface Agents {
  http: http.Agent;
  https: https.Agent;
}

interface DeliverOptions {
  agents: Agents;
  leaseUntil: Date;
  fetchTimeoutMs: number;
  maxAttempts: number;
  now: () => Date;
  random: () => number;
}

async function deliverOne(
  { db, logger, secrets }: DispatchDueWebhooksParameters,
  event: ClaimedEvent,
  options: DeliverOptions,
): Promise<keyof DispatchDueWebhooksReturnType> {
  const log = { event_id: event.id, event_type: event.type, clinic_id: event.clinic_id };
  const ours = { id: event.id, status: 'pending', next_attempt_at: options.leaseUntil };

  if (!event.webhook_url) {
    const updated = await db('webhook_events').where(ours).update({ status: 'skipped', last_error: 'clinic has no webhook_url' });
    if (updated > 0) logger.info(log, 'webhook skipped: the clinic has no webhook URL');
    return 'skipped';
  }

  const attempt = event.attempts + 1;
  const startedAt = options.now();
  const started = performance.now();
  let signing: string[] | undefined;
  try {
    signing = webhookSigningSecrets({ ...event, id: event.clinic_id }, secrets, startedAt);
  } catch (error) {
    if (!(error instanceof SecretUnreadableError)) throw error;
    // The gateway's keys are wrong (SECRETS_KEYS lost the key that sealed it): nothing is sent; the attempt counts, and is retried.
    logger.error(log, "webhook not sent: no configured SECRETS_KEYS key opens the clinic's webhook secret");
  }
  if (planted('webhook_marked_before_send')) {
    // A planted bug for the fault simulator: the event is recorded delivered before it is sent.
    await db('webhook_events').where(ours).update({ status: 'delivered', attempts: attempt, delivered_at: startedAt, last_error: null });
  }
  failpoint('webhooks.before_post');
  const result: AttemptResult = signing
    ? await postEvent(event, event.webhook_url, signing, startedAt, options.fetchTimeoutMs, options.agents)
    : { ok: false, statusCode: null, error: "not sent: the gateway cannot open this clinic's webhook secret" };
  failpoint('webhooks.after_post');
  const durationMs = Math.round(performance.now() - started);
  const finishedAt = options.now();

  let outcome: 'delivered' | 'failed' | 'retried';
  let changes: Record<string, unknown>;
  if (result.ok) {
    outcome = 'delivered';
    changes = { status: 'delivered', attempts: attempt, delivered_at: finishedAt, last_error: null };
  } else if (attempt >= options.maxAttempts) {
    outcome = 'failed';
    changes = { status: 'failed', attempts: attempt, last_error: result.error };
  } else {
    outcome = 'retried';
    changes = { attempts: attempt, last_error: result.error, next_attempt_at: new Date(finishedAt.getTime() + webhookRetryDelayMs(attempt, options.random)) };
  }

  const applied = await db.transaction(async (trx): Promise<number> => {
    await trx('webhook_deliveries').insert({
      event_id: event.id,
      url: event.webhook_url,
      attempt,
      status_code: result.statusCode,
      error: result.ok ? null : result.error,
      duration_ms: durationMs,
      attempted_at: startedAt,
    });
    return (await trx('webhook_events').where(ours).update(changes)) as number;
  });

  const fields = { ...log, attempt, status_code: result.statusCode, duration_ms: durationMs };
  if (applied === 0) {
    // Redelivery was requested, or the lease ran out and another pass claimed the event: its state is theirs now.
    logger.warn({ ...fields, outcome }, 'webhook attempt recorded, but the event was claimed again meanwhile');
  } else if (outcome === 'delivered') {
    logger.info(fields, 'webhook delivered');
  } else {
    logger.warn(
      { ...fields, error: result.ok ? undefined : result.error, outcome },
      outcome === 'failed' ? 'webhook failed; no retries left' : 'webhook attempt failed; will retry',
    );
  }
  return outcome;
}

/** POSTs the signed event; never throws for what the network or the receiver does. */
async function postEvent(event: ClaimedEvent, url: string, secrets: string[], at: Date, timeoutMs: number, agents: Agents): Promise<AttemptResult> {
  const rawBody = webhookRequestBody(event);
  const signature = signWebhookPayload({ secret: secrets, timestamp: Math.floor(at.getTime() / 1000), rawBody });
  try {
    const status = await post(new URL(url), rawBody, { [WEBHOOK_SIGNATURE_HEADER]: signature }, timeoutMs, agents);
    if (status >= 200 && status < 300) return { ok: true, statusCode: status };
    // A redirect is an answer of its own (a failure): following it could send the signed body somewhere unintended.
    return { ok: false, statusCode: status, error: `HTTP ${status}` };
  } catch (error) {
    return { ok: false, statusCode: null, error: describePostError(error, timeoutMs) };
  }
}

class WebhookTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** One POST of `body`; resolves with the status once the answer's headers are in (its body is not read). */
function post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number, agents: Agents): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(
      url,
      {
        method: 'POST',
        agent: url.protocol === 'https:' ? agents.https : agents.http,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'User-Agent': WEBHOOK_USER_AGENT, ...headers },
      },
      (response) => {
        clearTimeout(timer);
        // The receiver's body is not needed: discard it and let the socket go.
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    const timer = setTimeout(() => request.destroy(new WebhookTimeoutError()), timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(body);
  });
}

/**
 * A short, safe description of why a request got no answer, shown to the clinic. Messages are
 * not copied blindly: some quote the URL, which may carry secrets, or the address it resolved to.
 */
function describePostError(error: unknown, timeoutMs: number): string {
  if (error instanceof WebhookTimeoutError) return `timeout: no response within ${timeoutMs} ms`;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message === 'string' && / is not allowed\. Because/.test(message)) {
    return 'refused: the webhook host resolves to an address the gateway does not call (loopback, private, link-local or reserved)';
  }
  if (typeof code === 'string') return `network error: ${code}`.slice(0, MAX_ERROR_LENGTH);
  return `request failed: ${error instanceof Error ? error.name : typeof error}`;
}

function bounded(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new RangeError(`${name} must be an integer from 1 to ${max}, not ${value}.`);
  return value;
}
