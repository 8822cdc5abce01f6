/**
 * Request rate limits, counted in Postgres (`rate_limits`, through rate-limiter-flexible) so
 * that every gateway instance behind a load balancer draws on the same allowance:
 *
 * - `public`: per client address, on what answers without a token (the patient's checkout,
 *   `/ready`, `/problems`, and paths that match nothing);
 * - `expensive`: per caller (token subject), on statements, exports, reconciliation runs and
 *   audit-log verification;
 * - `anchors`: per caller per hour, on statement anchoring, which spends the relayer's gas;
 * - `failedAuth`: per client address, refused bearer tokens and API keys: past the limit the
 *   address is refused (429) before its token is even looked at, so keys cannot be guessed at speed
 *   (an address with no refusal on record is looked up at most once a second per instance);
 * - `signIn`: per client address, on starting and finishing sign-ins and passkey ceremonies;
 * - `failedSignIns`: per person (issuer and subject), sign-ins refused for want of access and
 *   passkey confirmations that did not verify: past the limit that person is refused for the window.
 *
 * Fixed windows: a key's count starts at its first request and resets a window later. Over the
 * limit: 429 `rate_limited` with `Retry-After`. When the database cannot count, each instance
 * counts in memory instead (the same limits, per instance), so an outage of the limiter's store
 * neither opens the gates nor turns every request into a 500.
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from '../platform/db.js';
import { principalOf } from './auth.js';
import { RateLimitedError } from './errors.js';

/** Requests allowed per window; 0 turns a limit off. */
export interface RateLimitSettings {
  /** Per client address per minute, unauthenticated routes. */
  publicPerMinute: number;
  /** Per caller per minute: statements, exports, reconciliation runs, audit-log verification. */
  expensivePerMinute: number;
  /** Per caller per hour: statement anchors. */
  anchorsPerHour: number;
  /** Per client address per minute: refused bearer tokens and API keys. */
  failedAuthPerMinute: number;
  /** Per client address per minute: sign-in starts and callbacks, passkey ceremonies; per person, failed ones. */
  signInPerMinute: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  publicPerMinute: 300,
  expensivePerMinute: 30,
  anchorsPerHour: 10,
  failedAuthPerMinute: 30,
  signInPerMinute: 20,
};

const TABLE = 'rate_limits';

export class RateLimits {
  /** Limits unauthenticated routes by client address. */
  readonly public: RequestHandler;
  /** Limits expensive operations by caller. Mount after authentication. */
  readonly expensive: RequestHandler;
  /** Limits statement anchors by caller. Mount after authentication. */
  readonly anchors: RequestHandler;
  /** Counts refused credentials by client address; authentication asks it first. */
  readonly failedAuth: FailedAuthLimit;
  /** Limits sign-in steps by client address. */
  readonly signIn: RequestHandler;
  /** Counts failed sign-ins and step-ups per person (key: issuer and subject). */
  readonly failedSignIns: FailureCounter;

  constructor(db: Db, settings: RateLimitSettings) {
    this.public = limiter(db, 'public', settings.publicPerMinute, 60, addressKey, 'Too many requests from this address');
    this.expensive = limiter(db, 'expensive', settings.expensivePerMinute, 60, callerKey, 'Too many statements, exports or verifications for this caller');
    this.anchors = limiter(db, 'anchors', settings.anchorsPerHour, 3600, callerKey, 'Too many statement anchors for this caller');
    this.failedAuth = failedAuthLimit(db, settings.failedAuthPerMinute);
    this.signIn = limiter(db, 'sign_in', settings.signInPerMinute, 60, addressKey, 'Too many sign-in attempts from this address');
    this.failedSignIns = failureCounter(db, 'failed_sign_in', settings.signInPerMinute, 'Too many failed sign-ins or passkey confirmations for this person');
  }
}

const addressKey = (req: Request) => `ip:${digest(req.ip ?? 'unknown')}`;

/** Failures counted per key; past the limit the key is refused until its window ends. */
export interface FailureCounter {
  /** Throws 429 when `key` has used up its failures for the window. */
  refuseIfBlocked(key: string): Promise<void>;
  /** Counts one failure against `key`. */
  record(key: string): Promise<void>;
}

function failureCounter(db: Db, name: string, points: number, message: string, { trustCleanForMs = 0 } = {}): FailureCounter {
  if (points === 0) return { refuseIfBlocked: async () => undefined, record: async () => undefined };
  const store = countingStore(db, name, points, 60);
  const clean = new CleanReadings(trustCleanForMs);
  return {
    async refuseIfBlocked(key) {
      const counterKey = `k:${digest(key)}`;
      if (clean.has(counterKey)) return;
      const generation = clean.generation;
      const counted = await store.get(counterKey);
      if (counted && counted.consumedPoints >= points) {
        const retryAfter = Math.max(1, Math.ceil(counted.msBeforeNext / 1000));
        throw new RateLimitedError(`${message}: at most ${points} per minute. Try again in ${retryAfter} s.`, retryAfter);
      }
      if (!counted || counted.consumedPoints === 0) clean.add(counterKey, generation);
    },
    async record(key) {
      const counterKey = `k:${digest(key)}`;
      clean.forget(counterKey);
      await store.consume(counterKey).catch((rejection: unknown) => {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
      });
    },
  };
}

/** Keys remembered as clean at once; past it, the oldest is forgotten (and looked up again). */
const CLEAN_READINGS_MAX = 10_000;

/**
 * Keys the shared store had no failure on when this instance last asked, trusted for `forMs`
 * so that a caller whose credentials are fine is not looked up on every request. A failure this
 * instance records forgets its key at once, and makes a reading taken meanwhile worthless; a
 * key with any failure on record is looked up every time. So past a limit reached on other
 * instances, this one lets at most one more failing guess through (the one that teaches it).
 */
class CleanReadings {
  private readonly until = new Map<string, number>();
  /** Counts the failures recorded here: a reading started before one of them is not trusted. */
  generation = 0;

  constructor(private readonly forMs: number) {}

  has(key: string): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.until.delete(key);
    return false;
  }

  add(key: string, generationAtRead: number): void {
    if (this.forMs === 0 || generationAtRead !== this.generation) return;
    if (this.until.size >= CLEAN_READINGS_MAX) this.until.delete(this.until.keys().next().value!);
    this.until.set(key, Date.now() + this.forMs);
  }

  forget(key: string): void {
    this.generation++;
    this.until.delete(key);
  }
}

/** What authentication asks before it verifies a credential, and tells when it refused one. */
export interface FailedAuthLimit {
  /** Throws 429 when the client's address has used up its refusals for the window. */
  refuseIfBlocked(req: Request): Promise<void>;
  /** Counts one refused credential against the client's address. */
  record(req: Request): Promise<void>;
}

/** How long an address with no refused credentials on record is not looked up again: every authenticated request asks. */
const FAILED_AUTH_CLEAN_MS = 1000;

function failedAuthLimit(db: Db, points: number): FailedAuthLimit {
  const counter = failureCounter(db, 'failed_auth', points, 'Too many refused credentials from this address', { trustCleanForMs: FAILED_AUTH_CLEAN_MS });
  return {
    refuseIfBlocked: (req) => counter.refuseIfBlocked(addressKey(req)),
    record: (req) => counter.record(addressKey(req)),
  };
}

/** Removes counts whose window ended over an hour ago; returns how many. */
export async function purgeExpiredRateLimits(db: Db, now = Date.now()): Promise<number> {
  return (await db(TABLE)
    .where('expire', '<', now - 3_600_000)
    .del()) as number;
}

/** A caller is its token's subject and clinic. */
function callerKey(_req: Request, res: Parameters<RequestHandler>[1]): string {
  const principal = principalOf(res);
  return `sub:${digest(`${principal.sub}|${principal.clinicId ?? '*'}`)}`;
}

/** Keys are hashed: any subject fits the key column, and no address or subject is stored as such. */
function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 40);
}

/** Counts in Postgres (shared by every instance), and in memory while the database cannot. */
function countingStore(db: Db, name: string, points: number, durationSeconds: number): RateLimiterPostgres {
  return new RateLimiterPostgres({
    storeClient: db,
    storeType: 'knex',
    tableName: TABLE,
    // The table is the migrations' to create (and the gateway's role may not create tables).
    tableCreated: true,
    keyPrefix: name,
    points,
    duration: durationSeconds,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds }),
  });
}

function limiter(
  db: Db,
  name: string,
  points: number,
  durationSeconds: number,
  keyOf: (req: Request, res: Parameters<RequestHandler>[1]) => string,
  message: string,
): RequestHandler {
  if (points === 0) return (_req, _res, next) => next();
  const store = countingStore(db, name, points, durationSeconds);
  const counted = `rateLimit:${name}`;
  return async (req, res, next) => {
    // Once per request, even when two mounts of one limit see it (a path under /checkout that matches nothing).
    if (res.locals[counted] === true) return next();
    res.locals[counted] = true;
    try {
      await store.consume(keyOf(req, res));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      throw new RateLimitedError(`${message}: at most ${points} per ${durationSeconds === 60 ? 'minute' : 'hour'}. Try again in ${retryAfter} s.`, retryAfter);
    }
    next();
  };
}
