/**
 * A run's schedule: every operation and fault, their order and parameters, drawn from the seed
 * alone before anything runs. The same seed gives the same schedule (its digest is printed at
 * the start of a run), so a violation is replayed with `--seed N`.
 */
import { createHash } from 'node:crypto';
import { FAILPOINTS, type FailpointName } from '../src/platform/failpoints.js';
import { Random } from './random.js';

export const WORKERS = ['watcher', 'flusher', 'relayer', 'auditChainer', 'webhooks', 'reconciler'] as const;
export type WorkerName = (typeof WORKERS)[number];

/** Faults the JSON-RPC proxy between the gateway and the node injects, each for a number of calls. */
export const RPC_FAULTS = ['error', 'timeout', 'lagging_head', 'duplicated_logs', 'reordered_logs', 'empty_logs', 'partial_logs', 'block_not_found'] as const;
export type RpcFault = (typeof RPC_FAULTS)[number];

export const PAYMENTS = ['exact', 'under', 'over', 'twice', 'foreign_token'] as const;
export type PaymentKind = (typeof PAYMENTS)[number];

export type Step =
  /** A new invoice of clinic `clinic` (0 or 1) for `cents` HKD cents. */
  | { op: 'invoice'; clinic: number; cents: number }
  /** A payment to the invoice at `invoice` modulo the invoices made so far. */
  | { op: 'pay'; invoice: number; kind: PaymentKind }
  | { op: 'void'; invoice: number }
  /** Empty blocks. */
  | { op: 'mine'; blocks: number }
  /**
   * The last `depth` blocks replaced by empty ones. Their transactions are dropped, or, with
   * `reinclude`, left to the node, which mines them again in later blocks.
   */
  | { op: 'reorg'; depth: number; reinclude: boolean }
  /** A long pause: retries come due and claims whose owner died run out their lease. */
  | { op: 'pause' }
  /** A reconciliation asked for (as `POST /v1/reconciliations` does) and run; a full sweep compares every deposit address. */
  | { op: 'reconcile'; fullSweep: boolean }
  /**
   * The open exception at `exception` (modulo those open) resolved by two finance users, one
   * proposing and the other approving: a refund to the payer, or a write-off.
   */
  | { op: 'resolve'; exception: number; action: 'refund' | 'write_off' }
  /** The clinic's wallet sends the approved refund at `resolution` (modulo those awaiting theirs). */
  | { op: 'refund'; resolution: number }
  /** `blocks`: for `empty_logs` and `partial_logs`, how many of the newest blocks the answering backend lacks. */
  | { op: 'rpc_fault'; fault: RpcFault; calls: number; blocks?: number }
  /** One pass of a worker on an instance, if that instance holds the worker's lock. */
  | { op: 'tick'; instance: number; worker: WorkerName }
  /** Passes of several workers at once, as a process's loops run side by side (their interleaving is not the seed's). */
  | { op: 'race'; passes: { instance: number; worker: WorkerName }[] }
  /** The next time any instance reaches `at`, it crashes there. */
  | { op: 'crash'; at: FailpointName }
  /** Every database connection of an instance cut `afterMs` into passes of `workers` there. */
  | { op: 'db_drop'; instance: number; workers: WorkerName[]; afterMs: number }
  /** An idle instance's process killed (SIGKILL); a new one starts before its next pass. */
  | { op: 'restart'; instance: number }
  /** An instance's process killed (SIGKILL) `afterMs` into passes of `workers` there. */
  | { op: 'kill'; instance: number; workers: WorkerName[]; afterMs: number };

export interface ScheduleParameters {
  seed: number;
  steps: number;
  instances: number;
  confirmations: number;
}

/** The schedule of a run: a pure function of its parameters. */
export function drawSchedule({ seed, steps, instances, confirmations }: ScheduleParameters): Step[] {
  const random = new Random(seed);
  const schedule: Step[] = [];
  // Crashes go through every failpoint in turn, in an order drawn afresh each round: however the
  // seed falls, no failpoint goes long without a crash armed at it.
  let failpoints: FailpointName[] = [];
  for (let index = 0; index < steps; index++) {
    const op = random.weighted<Step['op']>([
      ['invoice', 8],
      ['pay', 12],
      ['void', 1],
      ['mine', 6],
      ['reorg', 4],
      ['rpc_fault', 5],
      ['tick', 40],
      ['race', 6],
      ['crash', 3],
      ['restart', 1],
      ['db_drop', 2],
      ['kill', 2],
      ['pause', 1],
      ['reconcile', 1],
      ['resolve', 2],
      ['refund', 3],
    ]);
    switch (op) {
      case 'invoice':
        schedule.push({ op, clinic: random.int(0, 1), cents: random.int(100, 500_000) });
        break;
      case 'pay':
        schedule.push({ op, invoice: random.int(0, 1_000_000), kind: random.weighted(PAYMENTS.map((kind) => [kind, kind === 'exact' ? 6 : 1] as const)) });
        break;
      case 'void':
        schedule.push({ op, invoice: random.int(0, 1_000_000) });
        break;
      case 'mine':
        schedule.push({
          op,
          blocks: random.weighted([
            [1, 6],
            [confirmations, 3],
            [random.int(5, 40), 1],
          ] as const),
        });
        break;
      case 'reorg':
        schedule.push({ op, depth: random.int(1, 2 * confirmations), reinclude: random.int(0, 1) === 1 });
        break;
      case 'pause':
        schedule.push({ op });
        break;
      case 'reconcile':
        schedule.push({ op, fullSweep: random.int(0, 3) === 0 });
        break;
      case 'resolve':
        schedule.push({ op, exception: random.int(0, 1_000_000), action: random.int(0, 3) === 0 ? 'write_off' : 'refund' });
        break;
      case 'refund':
        schedule.push({ op, resolution: random.int(0, 1_000_000) });
        break;
      case 'rpc_fault': {
        const fault = random.pick(RPC_FAULTS);
        if (fault === 'empty_logs' || fault === 'partial_logs') {
          // A backend behind by fewer blocks than a payment needs confirmations: by the time a
          // block is final, every backend has it.
          schedule.push({ op, fault, calls: random.int(1, 12), blocks: random.int(1, confirmations - 1) });
        } else schedule.push({ op, fault, calls: fault === 'timeout' ? random.int(1, 3) : random.int(1, 12) });
        break;
      }
      case 'tick':
        schedule.push({
          op,
          instance: random.int(0, instances - 1),
          worker: random.weighted(WORKERS.map((worker) => [worker, worker === 'watcher' ? 4 : worker === 'reconciler' ? 1 : 2] as const)),
        });
        break;
      case 'race':
        // A process runs each worker's loop once: no pass races another of the same worker on the same instance.
        schedule.push({
          op,
          passes: [
            ...new Map(
              Array.from({ length: random.int(2, 3) }, () => ({ instance: random.int(0, instances - 1), worker: random.pick(WORKERS) })).map((pass) => [
                `${pass.instance}:${pass.worker}`,
                pass,
              ]),
            ).values(),
          ],
        });
        break;
      case 'crash':
        if (failpoints.length === 0) failpoints = random.shuffle(FAILPOINTS);
        schedule.push({ op, at: failpoints.pop()! });
        break;
      case 'restart':
        schedule.push({ op, instance: random.int(0, instances - 1) });
        break;
      case 'kill':
        schedule.push({ op, ...midPasses(random, instances, 50) });
        break;
      case 'db_drop':
        schedule.push({ op, ...midPasses(random, instances, 30) });
        break;
    }
  }
  return schedule;
}

/** Passes of one or two workers on an instance, and how far into them (up to `maxMs`) a fault strikes. */
function midPasses(random: Random, instances: number, maxMs: number): { instance: number; workers: WorkerName[]; afterMs: number } {
  return {
    instance: random.int(0, instances - 1),
    workers: [...new Set([random.pick(WORKERS), random.pick(WORKERS)])],
    afterMs: random.int(0, maxMs),
  };
}

/** A short digest of a schedule, printed so that two runs of one seed can be seen to agree. */
export function scheduleDigest(schedule: readonly Step[]): string {
  return createHash('sha256').update(JSON.stringify(schedule)).digest('hex').slice(0, 16);
}

/** A step as one line of a trace. */
export function describeStep(step: Step): string {
  const { op, ...rest } = step;
  return `${op} ${Object.entries(rest)
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join(' ')}`.trim();
}
