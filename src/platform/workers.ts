/**
 * Background workers (chain watcher, flusher, webhook dispatcher), each run by exactly one
 * gateway process at a time: a worker acts only while it holds its Postgres advisory lock, on a
 * connection of its own, so N gateway processes on one database never double-process. If the
 * leader dies its connection closes, the lock is released, and another process takes over.
 */
import pg from 'pg';
import { errorSummary, type Logger } from './log.js';

export interface Worker {
  name: string;
  /** Advisory lock key; unique per worker. */
  lockKey: number;
  /** Pause between passes when the last pass found nothing to do. */
  idleMs: number;
  /** One pass; resolves `true` when it did work (the next pass then starts at once). */
  tick(): Promise<boolean>;
}

export interface WorkerPool {
  /** Names of the workers this process currently leads. */
  leading(): string[];
  /** Stops after the passes in progress finish, and releases the locks. */
  stop(): Promise<void>;
}

const MAX_BACKOFF_MS = 30_000;

/** Starts every worker's loop. */
export function startWorkers(
  workers: readonly Worker[],
  { connectionString, logger, onFailure }: { connectionString: string; logger: Logger; onFailure?: (worker: string) => void },
): WorkerPool {
  const controller = new AbortController();
  const leaders = new Set<string>();
  const loops = workers.map((worker) => runLoop(worker, connectionString, logger, controller.signal, leaders, onFailure));
  return {
    leading: () => [...leaders],
    async stop() {
      controller.abort();
      await Promise.all(loops);
    },
  };
}

async function runLoop(
  worker: Worker,
  connectionString: string,
  logger: Logger,
  signal: AbortSignal,
  leaders: Set<string>,
  onFailure: ((worker: string) => void) | undefined,
): Promise<void> {
  // One connection per worker, kept while waiting for leadership too (a standby asks again on
  // it instead of opening a new session every pass). The lock lives and dies with it.
  let client: pg.Client | undefined;
  let leading = false;
  let failures = 0;
  const drop = async () => {
    leaders.delete(worker.name);
    leading = false;
    const closing = client;
    client = undefined;
    await closing?.end().catch(() => undefined);
  };
  while (!signal.aborted) {
    let pauseMs = worker.idleMs;
    try {
      if (!client) {
        const candidate = new pg.Client({ connectionString, application_name: `clinicpay-${worker.name}` });
        candidate.on('error', () => void drop());
        candidate.on('end', () => {
          if (client === candidate) void drop();
        });
        await candidate.connect();
        client = candidate;
      }
      if (!leading) {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [worker.lockKey]);
        if (rows[0]?.locked) {
          leading = true;
          leaders.add(worker.name);
          logger.info({ worker: worker.name }, 'worker leadership acquired');
        }
      }
      if (leading) {
        const didWork = await worker.tick();
        failures = 0;
        if (didWork) pauseMs = 0;
      }
    } catch (error) {
      failures += 1;
      onFailure?.(worker.name);
      pauseMs = Math.min(worker.idleMs * 2 ** failures, MAX_BACKOFF_MS);
      logger.warn({ worker: worker.name, err: errorSummary(error), retry_in_ms: pauseMs }, 'worker pass failed');
    }
    if (pauseMs > 0) await pause(pauseMs, signal);
  }
  await drop();
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
