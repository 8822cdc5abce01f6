/**
 * A cap on long downloads (statements, exports) running at once: per caller and for the whole
 * gateway process. Each holds a connection of the reports pool while it streams; past the cap
 * a request is refused at once (429 with `Retry-After`) instead of queueing for a connection.
 */
import type { RequestHandler } from 'express';
import { principalOf } from './auth.js';
import { RateLimitedError } from './errors.js';

/** How long a refused caller is asked to wait before trying again. */
const RETRY_AFTER_SECONDS = 5;

export class ReportSlots {
  private used = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(
    /** Downloads at once in this process: the size of the reports pool. */
    private readonly total: number,
    /** Downloads at once per caller (subject, role and clinic). */
    private readonly perCaller: number,
  ) {}

  /** Holds a slot from here until the response is finished or the client goes away. */
  hold(): RequestHandler {
    return (_req, res, next) => {
      const principal = principalOf(res);
      const caller = `${principal.role}|${principal.sub}|${principal.clinicId ?? '*'}`;
      const mine = this.byCaller.get(caller) ?? 0;
      if (mine >= this.perCaller)
        throw new RateLimitedError(`At most ${this.perCaller} long downloads at once per caller; wait for one to finish.`, RETRY_AFTER_SECONDS);
      if (this.used >= this.total)
        throw new RateLimitedError('The gateway is serving as many long downloads as it can; try again shortly.', RETRY_AFTER_SECONDS);
      this.used += 1;
      this.byCaller.set(caller, mine + 1);
      res.once('close', () => {
        this.used -= 1;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left > 0) this.byCaller.set(caller, left);
        else this.byCaller.delete(caller);
      });
      next();
    };
  }
}
