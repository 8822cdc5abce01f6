/**
 * One simulation run: a fresh database and chain, one or two gateway instances (each a child
 * process with its own pools, chain client and workers, taking the workers' advisory locks), the
 * seed's schedule run step by step with the invariants checked after each, then every fault
 * healed, the system left to settle, and the invariants checked once more against the chain.
 */
import { randomBytes } from 'node:crypto';
import { createWalletClient, erc20Abi, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import type { AuditActor } from '../src/audit/auditLog.js';
import { createClinic } from '../src/billing/clinics.js';
import { createInvoice, type InvoiceRow, voidInvoice } from '../src/billing/invoices.js';
import { createChainClient } from '../src/chain/client.js';
import { initCursor } from '../src/chain/cursor.js';
import { loadPaymentNetwork, type PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { ensureDatabase } from '../src/dev/postgres.js';
import type { Principal } from '../src/identity/principal.js';
import { createDb } from '../src/platform/db.js';
import type { PlantName } from '../src/platform/failpoints.js';
import { createLogger } from '../src/platform/log.js';
import { withTransaction } from '../src/platform/transaction.js';
import { approveResolution, createResolution } from '../src/recon/resolutions.js';
import { executeReconciliation, type ReconciliationDeps, requestReconciliation } from '../src/recon/runs.js';
import { Gateways } from './gateways.js';
import { afterSettling, duringRun, type InvariantContext, reconciliationDifferences } from './invariants.js';
import { describeStep, drawSchedule, type Step, scheduleDigest, WORKERS } from './schedule.js';
import { anvilRpc, type SimulationStack } from './stack.js';

export const CONFIRMATIONS = 3;
const ACTOR: AuditActor = { actor: 'simulator', role: 'clinic_admin' };
/** Two finance users: one proposes a resolution, the other approves it. */
const FINANCE = [1, 2].map((n) => ({
  actor: { actor: `simulator-finance-${n}`, role: 'finance' } satisfies AuditActor,
  principal: { sub: `simulator-finance-${n}`, role: 'finance', clinicId: undefined, method: 'api_key' } satisfies Principal,
}));
/** Rounds of every worker on every instance (a block mined each) the system gets to settle. */
const SETTLE_ROUNDS = 150;
/** The steps that are faults rather than the gateway's ordinary work. */
const FAULT_STEPS = new Set<Step['op']>(['reorg', 'rpc_fault', 'crash', 'restart', 'kill', 'db_drop', 'pause']);
/** The steps that are the gateway's ordinary work, counted when they take effect. */
const OPERATIONS = new Set<Step['op']>(['invoice', 'pay', 'void', 'reconcile', 'resolve', 'refund']);
/** Trace lines printed with a violation. */
const TRACE_SHOWN = 12;
/** How long the gateway waits for the node: shorter than the proxy holds a call it times out. */
const RPC_TIMEOUT_MS = 500;

export interface RunParameters {
  seed: number;
  steps: number;
  instances: number;
  plant?: PlantName | undefined;
  /** The seed's schedule without its faults (reorgs, RPC faults, crashes, kills, restarts, cut connections): the benchmark's baseline. */
  withoutFaults?: boolean;
}

export interface RunReport {
  seed: number;
  digest: string;
  stepsRun: number;
  ms: number;
  /** The first violation, with the step it followed (`steps` + 1: after settling) and a short trace. */
  violation?: { step: number; invariant: string; trace: string[] };
  /** Faults injected, by kind. */
  faults: Map<string, number>;
  /** Operations that took effect (not refused, and not with nothing to act on), by kind. */
  operations: Map<string, number>;
}

interface SimInvoice {
  row: InvoiceRow;
  clinic: number;
}

export async function runSimulation(stack: SimulationStack, parameters: RunParameters): Promise<RunReport> {
  const { seed, steps, instances: instanceCount, plant } = parameters;
  const started = performance.now();
  const drawn = drawSchedule({ seed, steps, instances: instanceCount, confirmations: CONFIRMATIONS });
  const schedule = parameters.withoutFaults ? drawn.filter((step) => !FAULT_STEPS.has(step.op)) : drawn;
  const report: RunReport = { seed, digest: scheduleDigest(schedule), stepsRun: 0, ms: 0, faults: new Map(), operations: new Map() };
  const count = (kind: string) => report.faults.set(kind, (report.faults.get(kind) ?? 0) + 1);

  await stack.resetChain();
  stack.rpc.heal();
  stack.rpc.injected.clear();
  stack.receiver.bodies.clear();
  const database = `sim_${seed}_${randomBytes(3).toString('hex')}`;
  await ensureDatabase(stack.postgres.urlFor('postgres'), database, stack.templateDatabase);
  const url = stack.postgres.urlFor(database);
  const db = createDb({ connectionString: url, poolMax: 4 });
  const network = await loadPaymentNetwork({
    chain: stack.direct,
    tokens: stack.deployments.token,
    factory: stack.deployments.factory,
    multicall3: stack.deployments.multicall3,
    timeoutMs: 10_000,
  });
  // Each clinic's own wallet: where its money is forwarded, and what it sends refunds from.
  const clinicWallets = [0, 1].map(() =>
    createWalletClient({ account: privateKeyToAccount(generatePrivateKey()), chain: foundry, transport: http(stack.anvil.rpcUrl) }),
  );
  for (const wallet of clinicWallets) await anvilRpc(stack.anvil.rpcUrl, 'anvil_setBalance', [wallet.account.address, '0x8ac7230489e80000']);
  await anvilRpc(stack.anvil.rpcUrl, 'anvil_mine', ['0x1']);
  const clinics = await withTransaction(db, async (trx) =>
    Promise.all(
      [0, 1].map(async (index) =>
        createClinic(trx, ACTOR, {
          name: `Simulated Clinic ${index + 1}`,
          settlementAddress: clinicWallets[index]!.account.address,
          webhookUrl: stack.receiver.url,
          secrets: stack.secrets,
        }),
      ),
    ),
  );
  // As the gateway does when it starts: the watcher reads from here on, and no invoice is older.
  const base = await stack.direct.getBlockNumber({ cacheTime: 0 });
  await initCursor(db, network.chainId, base);
  // The gateway instances: child processes, each its own pools, chain client and workers.
  const gateways = new Gateways(
    stack.gatewayEntry,
    {
      databaseUrl: url,
      rpcUrl: stack.rpc.url,
      rpcTimeoutMs: RPC_TIMEOUT_MS,
      nodeUrl: stack.anvil.rpcUrl,
      token: stack.deployments.token,
      factory: stack.deployments.factory,
      multicall3: stack.deployments.multicall3,
      relayerKey: stack.relayerKey,
      secretKey: stack.secretKey,
      confirmations: CONFIRMATIONS,
      plant,
    },
    instanceCount,
    (at) => count(`crash at ${at}`),
  );
  // What the API does when finance asks for a reconciliation, through the same node as the gateway.
  const reconciliation: ReconciliationDeps = {
    db,
    chain: createChainClient({ rpcUrl: stack.rpc.url, timeoutMs: RPC_TIMEOUT_MS }),
    logger: createLogger('silent'),
    chainId: network.chainId,
    token: network.token.address,
    tokens: network.tokens,
    finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: 2000n },
    multicall: network.multicall3 ?? undefined,
  };
  const reconcile = async (params: { fromBlock?: bigint; fullSweep: boolean }) => {
    const run = await withTransaction(db, (trx) => requestReconciliation(trx, reconciliation, FINANCE[0]!.actor, params));
    return executeReconciliation(reconciliation, run.id);
  };
  const invoices: SimInvoice[] = [];
  /** The refund transactions the clinic sent for each resolution (another only once a reorg dropped the last, or it failed). */
  const refundsSent = new Map<string, `0x${string}`[]>();
  const trace: string[] = [];
  const wallets = stack.payers.map((account) => createWalletClient({ account, chain: foundry, transport: http(stack.anvil.rpcUrl) }));
  const context: InvariantContext = {
    db,
    direct: stack.direct,
    receiver: stack.receiver,
    token: stack.deployments.token,
    chainId: network.chainId,
    confirmations: CONFIRMATIONS,
    network: network as PaymentNetwork,
  };
  const fail = (step: number, invariant: string) => {
    report.violation = { step, invariant, trace: trace.slice(-TRACE_SHOWN) };
  };

  try {
    for (const [index, step] of schedule.entries()) {
      // An operation the world refuses (a payer's transaction the node will not take, say) is an outcome, not a violation.
      const outcome = await runStep(step).catch((error: unknown) => `error: ${(error as Error).message.split('\n')[0]!.slice(0, 200)}`);
      if (OPERATIONS.has(step.op) && !/^(error|no |refused)/.test(outcome ?? '')) {
        const kind = step.op === 'pay' ? `pay ${step.kind}` : step.op === 'resolve' ? `resolve ${step.action}` : step.op;
        report.operations.set(kind, (report.operations.get(kind) ?? 0) + 1);
      }
      trace.push(`#${index + 1} ${describeStep(step)}${outcome ? ` → ${outcome}` : ''}`);
      report.stepsRun = index + 1;
      const violations = await duringRun(context);
      if (violations.length) {
        fail(index + 1, violations[0]!);
        return report;
      }
    }
    // Settle: no more faults, time passes, every worker runs until nothing is left to do.
    gateways.disarmAll();
    stack.rpc.heal();
    for (let round = 0; round < SETTLE_ROUNDS && !(await settled()); round++) {
      await anvilRpc(stack.anvil.rpcUrl, 'anvil_mine', ['0x1']);
      await letTimePass();
      for (const worker of WORKERS) for (let instance = 0; instance < instanceCount; instance++) await gateways.pass(instance, worker);
    }
    const left = await waiting();
    if (left !== undefined) {
      const errors = [...gateways.lastErrors].map(([where, message]) => `${where}: ${message}`);
      if (errors.length) trace.push(`last errors: ${errors.join(' | ')}`);
      fail(steps + 1, `the gateway did not settle in ${SETTLE_ROUNDS} rounds of every worker: still waiting: ${left}`);
      return report;
    }
    await anvilRpc(stack.anvil.rpcUrl, 'anvil_mine', [`0x${CONFIRMATIONS.toString(16)}`]);
    const violations = await afterSettling(context);
    // A full reconciliation of the whole run finds the books and the chain in agreement.
    if (violations.length === 0) violations.push(...(await reconciliationDifferences(db, await reconcile({ fromBlock: base + 1n, fullSweep: true }))));
    if (violations.length) fail(steps + 1, violations[0]!);
    return report;
  } finally {
    for (const [kind, calls] of stack.rpc.injected) report.faults.set(`rpc ${kind}`, calls);
    await gateways.close();
    await db.destroy();
    report.ms = performance.now() - started;
  }

  async function runStep(step: Step): Promise<string | undefined> {
    switch (step.op) {
      case 'invoice': {
        const clinic = clinics[step.clinic]!;
        const created = await withTransaction(db, (trx) =>
          createInvoice(trx, {
            clinicId: clinic.id,
            input: {
              patient_ref: 'sim',
              currency: 'HKD',
              line_items: [{ description: 'Consultation', quantity: 1, unit_amount: (step.cents / 100).toFixed(2) }],
            },
            network: network as PaymentNetwork,
            actor: ACTOR,
          }),
        );
        invoices.push({ row: created, clinic: step.clinic });
        return undefined;
      }
      case 'pay':
      case 'void': {
        if (invoices.length === 0) return 'no invoice yet';
        const invoice = invoices[step.invoice % invoices.length]!.row;
        if (step.op === 'void') {
          return withTransaction(db, (trx) => voidInvoice(trx, ACTOR, { clinicId: undefined }, invoice.id)).then(
            () => 'voided',
            (error: unknown) => `refused: ${(error as Error).message}`,
          );
        }
        const due = BigInt(invoice.token_amount_due);
        const wallet = wallets[step.invoice % wallets.length]!;
        const send = (token: `0x${string}`, amount: bigint) =>
          wallet.writeContract({ address: token, abi: erc20Abi, functionName: 'transfer', args: [invoice.deposit_address as `0x${string}`, amount] });
        if (step.kind === 'foreign_token') await send(stack.deployments.tokens[1]!, due);
        else if (step.kind === 'under') await send(stack.deployments.token, due / 2n);
        else if (step.kind === 'over') await send(stack.deployments.token, due + 1000n);
        else {
          await send(stack.deployments.token, due);
          if (step.kind === 'twice') await send(stack.deployments.token, due);
        }
        return undefined;
      }
      case 'mine':
        await anvilRpc(stack.anvil.rpcUrl, 'anvil_mine', [`0x${step.blocks.toString(16)}`]);
        return undefined;
      case 'reorg': {
        const head = await stack.direct.getBlockNumber({ cacheTime: 0 });
        // Never below the run's first block: the chain's snapshot of set-up lies there.
        const depth = Math.min(step.depth, Number(head - base));
        if (depth === 0) return 'no block of this run to reorg';
        await anvilRpc(stack.anvil.rpcUrl, 'anvil_reorg', [depth, []]);
        // The node keeps the replaced blocks' transactions and mines them again in its next
        // blocks (re-inclusion); or they are dropped, as if the new branch had spent their
        // nonces otherwise, so that the reorg takes payments away for good.
        if (!step.reinclude) await anvilRpc(stack.anvil.rpcUrl, 'anvil_dropAllTransactions', []);
        count(step.reinclude ? 'reorg, transactions mined again' : 'reorg, transactions dropped');
        return `depth ${depth}`;
      }
      case 'rpc_fault':
        stack.rpc.inject(step.fault, step.calls, step.blocks);
        return undefined;
      case 'tick':
        return gateways.pass(step.instance, step.worker);
      case 'race':
        return (await Promise.all(step.passes.map(({ instance, worker }) => gateways.pass(instance, worker)))).join(' ');
      case 'kill': {
        // SIGKILL to a gateway process `afterMs` into passes of `workers` there: wherever they are.
        const passes = step.workers.map((worker) => gateways.pass(step.instance, worker));
        await new Promise((resolve) => setTimeout(resolve, step.afterMs));
        await gateways.kill(step.instance);
        count('kill');
        return (await Promise.all(passes)).join(' ');
      }
      case 'db_drop': {
        // Passes under way when every connection of the instance is cut, its locks' sessions too:
        // what a database failover or a network blip does to a running process.
        const passes = step.workers.map((worker) => gateways.pass(step.instance, worker));
        await new Promise((resolve) => setTimeout(resolve, step.afterMs));
        const { rows } = (await db.raw(
          `SELECT count(pg_terminate_backend(pid))::int AS cut FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE ?`,
          [`sim-instance-${step.instance}%`],
        )) as { rows: { cut: number }[] };
        count('database connections cut');
        return `${rows[0]!.cut} connections cut; ${(await Promise.all(passes)).join(' ')}`;
      }
      case 'crash':
        gateways.arm(step.at);
        return undefined;
      case 'pause':
        await letTimePass();
        count('pause');
        return undefined;
      case 'reconcile': {
        const run = await reconcile({ fullSweep: step.fullSweep });
        return `${run.status}, ${run.counts.exceptions ?? 0} exceptions`;
      }
      case 'resolve': {
        const open = (await db('exceptions').where({ status: 'open' }).orderBy('id').select('id')) as { id: string }[];
        if (open.length === 0) return 'no open exception';
        const exceptionId = open[step.exception % open.length]!.id;
        const [proposer, approver] = FINANCE as [(typeof FINANCE)[0], (typeof FINANCE)[0]];
        const proposed = await withTransaction(db, (trx) =>
          createResolution(trx, proposer.principal, proposer.actor, exceptionId, {
            action: step.action,
            ...(step.action === 'write_off' ? { reason: 'simulated write-off' } : {}),
          }),
        );
        const approved = await withTransaction(db, (trx) => approveResolution(trx, approver.principal, approver.actor, proposed.id, network as PaymentNetwork));
        return `${approved.action} ${approved.amount}: ${approved.status}`;
      }
      case 'refund': {
        const awaiting = (await db('resolutions')
          .join('exceptions', 'exceptions.id', 'resolutions.exception_id')
          .join('invoices', 'invoices.id', 'exceptions.invoice_id')
          .where('resolutions.status', 'awaiting_transfer')
          .orderBy('resolutions.id')
          .select('resolutions.id', 'resolutions.to_address', 'resolutions.amount', 'invoices.settlement_address', 'exceptions.token_address')) as {
          id: string;
          to_address: `0x${string}`;
          amount: string;
          settlement_address: string;
          token_address: `0x${string}` | null;
        }[];
        // Not one whose refund is on the chain already, or on its way: the clinic pays each once.
        const unsent = [];
        for (const resolution of awaiting) {
          const states = await Promise.all((refundsSent.get(resolution.id) ?? []).map(refundState));
          if (states.every((state) => state === 'failed' || state === 'gone')) unsent.push(resolution);
        }
        if (unsent.length === 0) return 'no refund to send';
        const resolution = unsent[step.resolution % unsent.length]!;
        const wallet = clinicWallets.find((candidate) => candidate.account.address.toLowerCase() === resolution.settlement_address.toLowerCase())!;
        const hash = await wallet.writeContract({
          address: resolution.token_address ?? stack.deployments.token,
          abi: erc20Abi,
          functionName: 'transfer',
          args: [resolution.to_address, BigInt(resolution.amount)],
        });
        refundsSent.set(resolution.id, [...(refundsSent.get(resolution.id) ?? []), hash]);
        return `sent ${resolution.amount} for ${resolution.id}`;
      }
      case 'restart':
        count('restart');
        await gateways.kill(step.instance);
        return undefined;
    }
  }

  /**
   * What an hour would do: retries that wait for their time (webhooks, flushes) are due now, and
   * claims whose owner died have run out their lease. The run's clock is the database's.
   */
  async function letTimePass(): Promise<void> {
    await db('webhook_events').where({ status: 'pending' }).update({ next_attempt_at: db.fn.now() });
    await db('flush_requests').where({ status: 'pending' }).update({ next_attempt_at: db.fn.now() });
    await db('flush_requests')
      .where({ status: 'sent' })
      .whereNull('relayer_tx_id')
      .update({ updated_at: db.raw(`updated_at - interval '1 hour'`) });
  }

  /**
   * Where a refund transaction the clinic sent is: on the chain having moved the money, on the
   * chain having failed (mined again after a reorg took away the forward that paid for it),
   * waiting in the node's pool, or gone (a reorg dropped it).
   */
  async function refundState(hash: `0x${string}`): Promise<'transferred' | 'failed' | 'pending' | 'gone'> {
    const receipt = await stack.direct.getTransactionReceipt({ hash }).catch(() => undefined);
    if (receipt) return receipt.status === 'success' ? 'transferred' : 'failed';
    return (await stack.direct.getTransaction({ hash }).catch(() => undefined)) ? 'pending' : 'gone';
  }

  /** Nothing left to do: the watcher has read the chain, and nothing waits to be posted, forwarded, sent or chained. */
  async function settled(): Promise<boolean> {
    return (await waiting()) === undefined;
  }

  /** What still waits, in words; `undefined` when nothing does. */
  async function waiting(): Promise<string | undefined> {
    const head = await stack.direct.getBlockNumber({ cacheTime: 0 });
    const { rows } = (await db.raw(
      `SELECT (SELECT last_block FROM chain_cursors LIMIT 1)::text AS cursor,
              (SELECT count(*) FROM transfers WHERE status = 'pending')::int AS transfers,
              (SELECT count(*) FROM flush_requests WHERE status IN ('pending', 'sent'))::int AS flushes,
              (SELECT count(*) FROM relayer_transactions WHERE status IN ('queued', 'signed', 'sent'))::int AS relayer,
              (SELECT count(*) FROM webhook_events WHERE status = 'pending')::int AS webhooks,
              (SELECT count(*) FROM audit_inbox)::int AS audit`,
    )) as { rows: { cursor: string | null; transfers: number; flushes: number; relayer: number; webhooks: number; audit: number }[] };
    const { cursor, ...counts } = rows[0]!;
    // A refund the clinic sent waits while it is in the pool, or on the chain and matched to no resolution.
    const matched = ((await db('resolutions').whereNotNull('refund_tx_hash').pluck('refund_tx_hash')) as string[]).map((reference) => reference.split(':')[0]);
    let refunds = 0;
    let firstRefund: string | undefined;
    for (const [resolution, hashes] of refundsSent) {
      for (const hash of hashes) {
        const state = await refundState(hash);
        if (state === 'failed' || state === 'gone' || (state === 'transferred' && matched.includes(hash.toLowerCase()))) continue;
        refunds += 1;
        firstRefund ??= `(the first refund waiting: ${hash}, sent for ${resolution}, ${state})`;
      }
    }
    const left = Object.entries({ ...counts, refunds })
      .filter(([, count]) => count > 0)
      .map(([what, count]) => `${count} ${what}`);
    if (cursor === null || BigInt(cursor) < head) left.unshift(`the watcher at block ${cursor ?? 'none'} of ${head}`);
    if (counts.relayer > 0) {
      const first = (await db('relayer_transactions')
        .whereIn('status', ['queued', 'signed', 'sent'])
        .orderBy('nonce')
        .first('status', 'nonce', 'replacements', 'last_error')) as { status: string; nonce: string | null; replacements: number; last_error: string | null };
      left.push(
        `(the first relayer transaction: ${first.status}, nonce ${first.nonce ?? 'none'}, ${first.replacements} replacements, ${first.last_error ?? 'no error'})`,
      );
    }
    if (firstRefund) left.push(firstRefund);
    return left.length ? left.join(', ') : undefined;
  }
}
