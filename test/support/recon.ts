/**
 * Set-up for reconciliation and resolution tests: a settlement env of the test file's own
 * (anvil, token, factory, database — see ./settlement.ts) with the real app in front of it,
 * finance users told apart by their JWT `sub`, and small steps to drive the chain, the watcher,
 * the flusher and reconciliation runs through the API the way finance and the workers do.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import type { Address } from 'viem';
import { expect } from 'vitest';
import { createClinic } from '../../src/billing/clinics.js';
import { readCursor } from '../../src/chain/cursor.js';
import { type Anvil, anvilBinary, DEV_CHAIN_ID } from '../../src/dev/anvil.js';
import { freePort, startProcess } from '../../src/dev/processes.js';
import type { Db } from '../../src/platform/db.js';
import { createLogger } from '../../src/platform/log.js';
import { withTransaction } from '../../src/platform/transaction.js';
import { waitFor } from '../../src/platform/waitFor.js';
import type { matchRefunds } from '../../src/recon/resolutions.js';
import type { ReconciliationDeps } from '../../src/recon/runs.js';
import { bearer, buildTestApp, type CapturedLog, TEST_ACTOR, TEST_SECRETS, tokenFor } from './app.js';
import { type FundedAccount, fundedAccount } from './chain.js';
import {
  CONFIRMATIONS,
  flush,
  head,
  mine,
  type Payment,
  pay,
  type SettlementEnv,
  type SettlementEnvOptions,
  settle,
  startSettlementEnv,
  startWatcherHere,
  type TestClinic,
} from './settlement.js';

export const logger = createLogger('silent');

/** Two finance users (different `sub`s): one proposes, the other approves. */
export const FINANCE_A = tokenFor('finance', undefined, 'finance-alice');
export const FINANCE_B = tokenFor('finance', undefined, 'finance-bob');

export interface ReconEnv {
  env: SettlementEnv;
  app: Express;
  /** The block the watcher started at: everything the test does comes after it. */
  startBlock: bigint;
  /** What the app logged (unexpected errors included). */
  log: CapturedLog;
}

/** A settlement env with the watcher's cursor at its start, and the app talking to its chain. */
export async function startReconEnv(options: SettlementEnvOptions = {}): Promise<ReconEnv> {
  const env = await startSettlementEnv(options);
  const startBlock = await startWatcherHere(env);
  const { app, log } = await buildTestApp({ db: env.db, rpcUrl: env.rpcUrl, network: env.network });
  return { env, app, startBlock, log };
}

/** The deps a reconciliation run takes, as the app wires them (see src/http/reconciliation.ts). */
export function reconDeps(env: SettlementEnv, overrides: Partial<ReconciliationDeps> = {}): ReconciliationDeps {
  return {
    db: env.db,
    chain: env.client,
    logger,
    chainId: env.network.chainId,
    token: env.token,
    tokens: env.network.tokens,
    finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: 2000n },
    multicall: env.network.multicall3 ?? undefined,
    ...overrides,
  };
}

/** A clinic whose settlement wallet is an account the test holds the key of (to send refunds). */
export async function clinicWithWallet(env: SettlementEnv): Promise<TestClinic & { owner: FundedAccount }> {
  const owner = await fundedAccount(env.chain);
  const row = await withTransaction(env.db, (trx) =>
    createClinic(trx, TEST_ACTOR, { name: 'Kowloon Clinic', settlementAddress: owner.address, webhookUrl: undefined, secrets: TEST_SECRETS }),
  );
  return { row, id: row.id, wallet: owner.address, owner };
}

/** Everything paid so far made final, forwarded to the clinics, and the forwards made final. */
export async function settleAll(env: SettlementEnv): Promise<void> {
  await settle(env);
  for (let pass = 0; pass < 10; pass += 1) {
    const result = await flush(env);
    if (result.flushed + result.retried + result.failed === 0) break;
    expect(result.failed).toBe(0);
  }
  await settle(env);
}

/**
 * A payment the watcher never reads: both cursors are moved past its block before the watcher
 * gets there, so the chain has a transfer the ledger knows nothing of ("a transfer from nowhere").
 */
export async function payBehindWatcher(env: SettlementEnv, to: string, amount: bigint): Promise<Payment> {
  const cursor = await readCursor(env.db, env.network.chainId);
  expect(cursor, 'the watcher must have caught up before the skipped payment').toBe(await head(env));
  const payment = await pay(env, to, amount);
  await env
    .db('chain_cursors')
    .where({ chain_id: env.network.chainId })
    .update({ last_block: payment.blockNumber.toString(), verified_block: payment.blockNumber.toString() });
  return payment;
}

/** The last block the watcher has read and that is final: what a run may cover. */
export async function confirmedHead(env: SettlementEnv): Promise<bigint> {
  const cursor = (await readCursor(env.db, env.network.chainId))!;
  const finalHead = (await head(env)) - BigInt(CONFIRMATIONS) + 1n;
  return cursor < finalHead ? cursor : finalHead;
}

/** A POST with a fresh Idempotency-Key. */
export function post(app: Express, token: string, route: string, body?: unknown): request.Test {
  const call = request(app).post(route).set(bearer(token)).set('Idempotency-Key', randomUUID());
  return body === undefined ? call : call.send(body as object);
}

export function get(app: Express, token: string, route: string): request.Test {
  return request(app).get(route).set(bearer(token));
}

export interface RunBody {
  object: 'reconciliation';
  id: string;
  status: 'running' | 'completed' | 'failed';
  from_block: number;
  to_block: number;
  progress_percent: number;
  counts: Record<string, number | string>;
  error: string | null;
  requested_by: string;
  full_sweep: boolean;
  finished_at: string | null;
}

/** Polls `GET /v1/reconciliations/:id` until the run has finished. */
export async function waitForRun(app: Express, id: string, token = FINANCE_A): Promise<RunBody> {
  return waitFor(
    async () => {
      const response = await get(app, token, `/v1/reconciliations/${id}`);
      expect(response.status).toBe(200);
      const run = response.body as RunBody;
      return run.status === 'running' ? undefined : run;
    },
    { what: `reconciliation ${id} to finish`, timeoutMs: 20_000, intervalMs: 25 },
  );
}

/** Starts a run through the API (202) and waits for it to finish. */
export async function reconcile(
  app: Express,
  range: { from_block?: number | bigint; to_block?: number | bigint; full_sweep?: boolean } = {},
  token = FINANCE_A,
): Promise<RunBody> {
  const body = Object.fromEntries(Object.entries(range).map(([key, value]) => [key, typeof value === 'boolean' ? value : Number(value)]));
  const response = await post(app, token, '/v1/reconciliations', body);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(response.body).toMatchObject({ object: 'reconciliation', status: 'running' });
  return waitForRun(app, (response.body as RunBody).id, token);
}

export interface ExceptionBody {
  object: 'exception';
  id: string;
  type: string;
  status: 'open' | 'pending_approval' | 'resolved';
  clinic_id: string | null;
  invoice_id: string | null;
  tx_hash: string | null;
  log_index: number | null;
  block_number: number | null;
  block_time: string | null;
  token_address: string | null;
  from_address: string | null;
  amount: string;
  expected: string | null;
  observed: string | null;
  details: Record<string, unknown>;
  first_run_id: string | null;
  last_run_id: string | null;
  resolved_at: string | null;
  resolutions?: ResolutionBody[];
}

export interface ResolutionBody {
  object: 'resolution';
  id: string;
  exception_id: string;
  action: string;
  status: 'pending_approval' | 'awaiting_transfer' | 'completed';
  amount: string;
  to_address: Address | null;
  target_invoice_id: string | null;
  reason: string | null;
  created_by: string;
  approved_by: string | null;
  payment_uri: string | null;
  calldata: `0x${string}` | null;
  refund_tx_hash: string | null;
  completed_at: string | null;
}

/** Every exception `token` may see with the given filters (all pages). */
export async function listExceptions(app: Express, token: string, query: Record<string, string> = {}): Promise<ExceptionBody[]> {
  const all: ExceptionBody[] = [];
  let startingAfter: string | undefined;
  for (;;) {
    const params = new URLSearchParams({ ...query, limit: '100', ...(startingAfter ? { starting_after: startingAfter } : {}) });
    const response = await get(app, token, `/v1/exceptions?${params}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const page = response.body as { data: ExceptionBody[]; has_more: boolean };
    all.push(...page.data);
    if (!page.has_more) return all;
    startingAfter = page.data[page.data.length - 1]!.id;
  }
}

/** The one exception of `type` about `invoiceId` (fails unless there is exactly one). */
export async function exceptionOf(app: Express, type: string, invoiceId: string): Promise<ExceptionBody> {
  const found = await listExceptions(app, FINANCE_A, { type, invoice_id: invoiceId });
  expect(found.map((exception) => [exception.type, exception.invoice_id])).toEqual([[type, invoiceId]]);
  return found[0]!;
}

/** Rows of the exceptions table by type, straight from the database. */
export async function exceptionCountsByType(db: Db): Promise<Record<string, number>> {
  const rows = (await db('exceptions').groupBy('type').select('type', db.raw('count(*)::int AS n'))) as { type: string; n: number }[];
  return Object.fromEntries(rows.map((row) => [row.type, row.n]).sort());
}

/** Parses the gateway's CSV (RFC 4180, CRLF) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"';
        index += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\r' && text[index + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      index += 1;
    } else cell += char;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

/** CSV rows as objects keyed by the header row. */
export function csvRecords(text: string): { header: string[]; records: Record<string, string>[] } {
  const [header = [], ...rows] = parseCsv(text);
  return { header, records: rows.map((row) => Object.fromEntries(header.map((name, index) => [name, row[index] ?? '']))) };
}

/** Sends what an approved refund says (its call data, to the token) from the clinic's wallet. */
export async function sendRefund(env: SettlementEnv, wallet: FundedAccount, calldata: `0x${string}`): Promise<Payment> {
  const hash = await wallet.wallet.sendTransaction({ to: env.token, data: calldata });
  const receipt = await env.chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  expect(receipt.status).toBe('success');
  return { txHash: hash, blockNumber: receipt.blockNumber };
}

export function refundMatcher(env: SettlementEnv): Parameters<typeof matchRefunds>[0] {
  return {
    db: env.db,
    chain: env.client,
    chainId: env.network.chainId,
    token: env.token,
    tokens: env.network.tokens,
    finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: 2000n },
  };
}

/** Journal entries of `kind` with their postings as `account kind → amount`. */
export async function entriesOfKind(
  db: Db,
  kind: string,
  where: Record<string, string> = {},
): Promise<{ id: string; invoice_id: string | null; resolution_id: string | null; postings: Record<string, bigint> }[]> {
  const entries = (await db('journal_entries')
    .where({ kind, ...where })
    .orderBy('created_at')
    .select('id', 'invoice_id', 'resolution_id')) as { id: string; invoice_id: string | null; resolution_id: string | null }[];
  const result = [];
  for (const entry of entries) {
    const postings = (await db('postings')
      .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
      .where({ entry_id: entry.id })
      .select('ledger_accounts.kind', db.raw('postings.amount::text AS amount'))) as {
      kind: string;
      amount: string;
    }[];
    const sums: Record<string, bigint> = {};
    for (const posting of postings) sums[`${posting.kind}${BigInt(posting.amount) < 0n ? '-' : '+'}`] = BigInt(posting.amount);
    result.push({ ...entry, postings: sums });
  }
  return result;
}

/**
 * An anvil whose chain starts at block `startBlock` (a genesis file with that number): a chain
 * longer than a run may cover, without mining a million blocks one by one.
 */
export async function startAnvilAt(startBlock: bigint): Promise<Anvil & { workDir: string }> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-recon-anvil-'));
  const genesis = {
    config: {
      chainId: DEV_CHAIN_ID,
      homesteadBlock: 0,
      eip150Block: 0,
      eip155Block: 0,
      eip158Block: 0,
      byzantiumBlock: 0,
      constantinopleBlock: 0,
      petersburgBlock: 0,
      istanbulBlock: 0,
      berlinBlock: 0,
      londonBlock: 0,
      shanghaiTime: 0,
      cancunTime: 0,
    },
    nonce: '0x0',
    timestamp: `0x${Math.floor(Date.now() / 1000).toString(16)}`,
    extraData: '0x',
    gasLimit: '0x1c9c380',
    difficulty: '0x0',
    mixHash: `0x${'0'.repeat(64)}`,
    coinbase: `0x${'0'.repeat(40)}`,
    number: `0x${startBlock.toString(16)}`,
    alloc: {},
  };
  const genesisFile = path.join(workDir, 'genesis.json');
  fs.writeFileSync(genesisFile, JSON.stringify(genesis));
  const port = await freePort();
  const child = startProcess({
    command: anvilBinary(),
    args: ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(DEV_CHAIN_ID), '--init', genesisFile],
    logFile: path.join(workDir, 'anvil.log'),
  });
  const rpcUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
      });
      return response.ok;
    },
    { what: 'the genesis anvil to answer JSON-RPC', timeoutMs: 30_000, intervalMs: 50 },
  );
  return {
    rpcUrl,
    port,
    process: child,
    workDir,
    async stop() {
      await child.stop('SIGINT');
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export { CONFIRMATIONS, head, mine, pay };
