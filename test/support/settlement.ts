/**
 * Set-up for settlement tests: an anvil of the test's own (reorgs never touch the run's shared
 * node), a token and a deposit factory deployed with freshly funded accounts, a database of its
 * own, and small steps to drive the watcher and the flusher the way the workers do.
 *
 * Also a JSON-RPC proxy in front of a real anvil, for faults a healthy node never shows: a
 * node that refuses some calls for a while, or answers `eth_getLogs` with duplicated and
 * reordered logs. Everything behind it is the real node.
 */

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Address, encodeFunctionData, getAddress, type Hex, type LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { expect } from 'vitest';
import { testHKDAbi } from '../../contracts/artifacts/TestHKD.js';
import { type ClinicRow, createClinic } from '../../src/billing/clinics.js';
import { createInvoice, type InvoiceRow } from '../../src/billing/invoices.js';
import { type ChainClient, createChainClient } from '../../src/chain/client.js';
import { initCursor, readCursor } from '../../src/chain/cursor.js';
import type { PaymentNetwork } from '../../src/chain/paymentNetwork.js';
import { loadPaymentNetwork } from '../../src/chain/paymentNetwork.js';
import { type Anvil, startAnvil } from '../../src/dev/anvil.js';
import { ensureMulticall3 } from '../../src/dev/contracts.js';
import { accountBalances } from '../../src/ledger/ledger.js';
import type { Db } from '../../src/platform/db.js';
import { createLogger } from '../../src/platform/log.js';
import { withTransaction } from '../../src/platform/transaction.js';
import { deployDepositFactory } from '../../src/settlement/depositFactory.js';
import { flushOnce } from '../../src/settlement/flusher.js';
import { relayerOnce } from '../../src/settlement/relayer.js';
import { type SyncResult, syncOnce, type WatcherDeps } from '../../src/settlement/watcher.js';
import { TEST_ACTOR, TEST_SECRETS } from './app.js';
import { deployTestToken, type FundedAccount, fundedAccount, mint, type TestChain, testChain } from './chain.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export const CONFIRMATIONS = 3;
/** What the payer holds of the env's token from the start, so a payment is one transaction (one block). */
const PAYER_FUNDS = 10n ** 40n;
const logger = createLogger('silent');

export interface SettlementEnv {
  anvil: Anvil;
  /** Test-side clients of the env's anvil (cheat codes, receipts). */
  chain: TestChain;
  /** The client the watcher and flusher use, as in production (through `rpcUrl`). */
  client: ChainClient;
  /** What the gateway talks to: the anvil, or a proxy in front of it. */
  rpcUrl: string;
  testDb: TestDatabase;
  db: Db;
  owner: FundedAccount;
  payer: FundedAccount;
  relayer: FundedAccount;
  token: Address;
  /** A second accepted token from another test issuer, when the env was started with one. */
  secondToken: Address | undefined;
  factory: Address;
  network: PaymentNetwork;
  workDir: string;
  stateFile: string | undefined;
  close(): Promise<void>;
}

export interface SettlementEnvOptions {
  decimals?: number;
  /** Keep anvil's chain in a state file (written on SIGINT), so that {@link restartAnvil} brings the same chain back. */
  persistState?: boolean;
  /** Put a fault-injecting proxy between the gateway and anvil. */
  proxy?: RpcProxy;
  /** Accept a second token (symbol tHKDB) of these decimals too, pinned with its own issuer. */
  secondTokenDecimals?: number;
  /** Pin the tokens with their issuers' freeze functions (`isFrozen`, `Frozen`), so that freezes are watched. */
  issuerFreezes?: boolean;
}

/** Starts an anvil and a database of the test's own, deploys a token and a factory, funds a payer. */
export async function startSettlementEnv(options: SettlementEnvOptions = {}): Promise<SettlementEnv> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-settlement-'));
  const stateFile = options.persistState ? path.join(workDir, 'anvil-state.json') : undefined;
  const anvil = await startAnvil({ logFile: path.join(workDir, 'anvil.log'), ...(stateFile ? { stateFile } : {}) });
  const testDb = await createTestDatabase();
  const chain = testChain(anvil.rpcUrl);
  const [owner, payer, relayer] = await Promise.all([fundedAccount(chain), fundedAccount(chain), fundedAccount(chain)]);
  const token = await deployTestToken(chain, owner, options.decimals ?? 6);
  const { factory } = await deployDepositFactory({ wallet: owner.wallet, publicClient: chain.publicClient });
  await mint(chain, owner, token, payer.address, PAYER_FUNDS);
  const secondToken = options.secondTokenDecimals === undefined ? undefined : await deployTestToken(chain, owner, options.secondTokenDecimals, 'tHKDB');
  if (secondToken) await mint(chain, owner, secondToken, payer.address, PAYER_FUNDS);
  const direct = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
  // Where a production chain has it, so that reconciliation reads balances as it does there.
  const multicall3 = await ensureMulticall3({ chain: direct, rpcUrl: anvil.rpcUrl, deployer: owner.account });
  if (options.proxy) options.proxy.upstream = anvil.rpcUrl;
  const rpcUrl = options.proxy?.url ?? anvil.rpcUrl;
  const client = createChainClient({ rpcUrl, timeoutMs: 5000 });
  const freeze = options.issuerFreezes ? { freeze: { view: 'isFrozen', event: 'Frozen' } } : {};
  const pins = [
    {
      address: token,
      symbol: 'tHKD',
      decimals: options.decimals ?? 6,
      issuer: 'Harbour Test Issuer Ltd',
      licence: 'TEST-SC-1',
      peg: 'HKD' as const,
      ...freeze,
    },
    ...(secondToken
      ? [
          {
            address: secondToken,
            symbol: 'tHKDB',
            decimals: options.secondTokenDecimals!,
            issuer: 'Lion Rock Test Issuer Ltd',
            licence: 'TEST-SC-2',
            peg: 'HKD' as const,
            ...freeze,
          },
        ]
      : []),
  ];
  const tokens = secondToken || options.issuerFreezes ? pins : token;
  const network = await loadPaymentNetwork({ chain: direct, tokens, factory, multicall3, timeoutMs: 10_000 });
  const env: SettlementEnv = {
    anvil,
    chain,
    client,
    rpcUrl,
    testDb,
    db: testDb.db,
    owner,
    payer,
    relayer,
    token,
    secondToken,
    factory,
    network,
    workDir,
    stateFile,
    async close() {
      await env.anvil.stop();
      await testDb.close();
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
  return env;
}

/** Starts the env's anvil again on the same port, from the state it wrote when it was stopped. */
export async function restartAnvil(env: SettlementEnv): Promise<void> {
  if (!env.stateFile) throw new Error('the env was started without persistState');
  env.anvil = await startAnvil({ logFile: path.join(env.workDir, 'anvil.log'), stateFile: env.stateFile, port: env.anvil.port });
}

export interface TestClinic {
  row: ClinicRow;
  id: string;
  /** The clinic's settlement wallet: a fresh address nothing else ever pays. */
  wallet: Address;
}

export async function newClinic(env: Pick<SettlementEnv, 'db'>): Promise<TestClinic> {
  const wallet = privateKeyToAccount(generatePrivateKey()).address;
  const row = await withTransaction(env.db, (trx) =>
    createClinic(trx, TEST_ACTOR, { name: 'Harbour Clinic', settlementAddress: wallet, webhookUrl: undefined, secrets: TEST_SECRETS }),
  );
  return { row, id: row.id, wallet };
}

export interface NewInvoiceOptions {
  /** HKD, e.g. '12.34'. */
  amount?: string;
  expiresInMinutes?: number;
  network?: PaymentNetwork;
}

export async function newInvoice(env: Pick<SettlementEnv, 'db' | 'network'>, clinic: TestClinic, options: NewInvoiceOptions = {}): Promise<InvoiceRow> {
  const input = {
    patient_ref: 'patient-0001',
    currency: 'HKD',
    line_items: [{ description: 'Consultation', quantity: 1, unit_amount: options.amount ?? '12.34' }],
    ...(options.expiresInMinutes === undefined ? {} : { expires_in_minutes: options.expiresInMinutes }),
  };
  return withTransaction(env.db, (trx) => createInvoice(trx, { clinicId: clinic.id, input, network: options.network ?? env.network, actor: TEST_ACTOR }));
}

export async function readInvoice(env: Pick<SettlementEnv, 'db'>, id: string): Promise<InvoiceRow> {
  return (await env.db('invoices').where({ id }).first()) as InvoiceRow;
}

export interface Payment {
  txHash: Hex;
  blockNumber: bigint;
}

/** A patient's payment: a plain ERC-20 transfer of `amount` base units to `to` (one block). */
export async function pay(env: SettlementEnv, to: string, amount: bigint, { token = env.token, from = env.payer } = {}): Promise<Payment> {
  const hash = await from.wallet.writeContract({ address: token, abi: testHKDAbi, functionName: 'transfer', args: [getAddress(to), amount] });
  const receipt = await env.chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  expect(receipt.status).toBe('success');
  return { txHash: hash, blockNumber: receipt.blockNumber };
}

/** A payment signed now and sent later (or put into a block by `anvil_reorg`): the raw transaction. */
export async function signPayment(env: SettlementEnv, to: string, amount: bigint): Promise<Hex> {
  const request = await env.payer.wallet.prepareTransactionRequest({
    to: env.token,
    data: encodeFunctionData({ abi: testHKDAbi, functionName: 'transfer', args: [getAddress(to), amount] }),
  });
  return env.payer.wallet.signTransaction(request);
}

/** A JSON-RPC call straight to the env's anvil (cheat codes viem has no action for). */
export async function anvilRpc(env: SettlementEnv, method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(env.anvil.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const answer = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (answer.error) throw new Error(`${method}: ${answer.error.message}`);
  return answer.result;
}

export async function balanceOf(env: SettlementEnv, owner: string, token: Address = env.token): Promise<bigint> {
  return env.chain.publicClient.readContract({ address: token, abi: testHKDAbi, functionName: 'balanceOf', args: [getAddress(owner)] });
}

export async function head(env: SettlementEnv): Promise<bigint> {
  return env.chain.publicClient.getBlockNumber({ cacheTime: 0 });
}

export async function mine(env: SettlementEnv, blocks: number): Promise<void> {
  await env.chain.testClient.mine({ blocks });
}

/** The watcher as the gateway runs it, against the env's chain and database. */
export function watcher(env: SettlementEnv, overrides: Partial<WatcherDeps> = {}): WatcherDeps {
  return {
    db: env.db,
    chain: env.client,
    logger,
    chainId: env.network.chainId,
    token: env.token,
    tokens: env.network.tokens,
    finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: 100n },
    tolerance: 0n,
    ...overrides,
  };
}

/** Starts the watcher's cursor at the current head, so it reads only what the test does next. */
export async function startWatcherHere(env: SettlementEnv): Promise<bigint> {
  const block = await head(env);
  await initCursor(env.db, env.network.chainId, block);
  return block;
}

/** `syncOnce` until the cursor reaches the head (as the worker does when it has more to read). */
export async function syncUntilCaughtUp(deps: WatcherDeps, maxPasses = 200): Promise<SyncResult> {
  for (let pass = 0; pass < maxPasses; pass += 1) {
    const result = await syncOnce(deps);
    if (result.cursor === result.head) return result;
  }
  throw new Error(`the watcher did not catch up in ${maxPasses} passes`);
}

/** Mines enough blocks for everything so far to be final, and lets the watcher take it all in. */
export async function settle(env: SettlementEnv, deps: WatcherDeps = watcher(env)): Promise<SyncResult> {
  await mine(env, deps.finality.confirmations);
  return syncUntilCaughtUp(deps);
}

/** What one round of forwarding did to the deposits it took up. */
export interface FlushRound {
  flushed: number;
  retried: number;
  failed: number;
}

/**
 * One round of forwarding as the workers do it, on an automining chain: the flusher queues a
 * batch, the relayer sender sends it and then sees it mined, and the flusher records the outcome.
 */
export async function flush(env: SettlementEnv, { db = env.db, relayer = env.relayer } = {}): Promise<FlushRound> {
  const flusher = {
    db,
    chain: env.client,
    chainId: env.network.chainId,
    relayer: relayer.account,
    factory: env.factory,
    token: env.token,
    tokens: env.network.tokens.map((token) => token.address),
    logger,
  };
  const sender = { db, chain: env.client, chainId: env.network.chainId, account: relayer.account as LocalAccount, logger, replaceAfterMs: 60_000 };
  const queued = await flushOnce(flusher);
  await relayerOnce(sender);
  await relayerOnce(sender);
  const recorded = await flushOnce(flusher);
  return { flushed: queued.flushed + recorded.flushed, retried: queued.retried + recorded.retried, failed: queued.failed + recorded.failed };
}

export async function cursorOf(env: SettlementEnv): Promise<bigint | undefined> {
  return readCursor(env.db, env.network.chainId);
}

export interface EntryWithPostings {
  id: string;
  kind: string;
  reverses_entry_id: string | null;
  transfer_id: string | null;
  postings: { account: string; amount: bigint }[];
}

/** The invoice's journal entries in posting order, each with its postings as `kind:amount`. */
export async function entriesOf(db: Db, invoiceId: string): Promise<EntryWithPostings[]> {
  const entries = (await db('journal_entries')
    .where({ invoice_id: invoiceId })
    .orderBy([{ column: 'created_at' }, { column: 'kind' }])) as Omit<EntryWithPostings, 'postings'>[];
  const result: EntryWithPostings[] = [];
  for (const entry of entries) {
    const postings = (await db('postings')
      .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
      .where({ entry_id: entry.id })
      .orderBy('postings.id')
      .select('ledger_accounts.kind', 'postings.amount')) as { kind: string; amount: string }[];
    result.push({
      id: entry.id,
      kind: entry.kind,
      reverses_entry_id: entry.reverses_entry_id,
      transfer_id: entry.transfer_id,
      postings: postings.map((posting) => ({ account: posting.kind, amount: BigInt(posting.amount) })),
    });
  }
  return result;
}

export async function entryCount(db: Db): Promise<number> {
  const row = (await db('journal_entries').count({ n: '*' }).first()) as { n: string };
  return Number(row.n);
}

export interface TransferRecord {
  id: string;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_hash: string;
  kind: string;
  status: string;
  flag: string | null;
  amount: string;
  token_address: string;
  to_address: string;
}

export async function transfersOf(db: Db, invoiceId: string): Promise<TransferRecord[]> {
  return (await db('transfers')
    .where({ invoice_id: invoiceId })
    .orderBy([{ column: 'block_number' }, { column: 'log_index' }])) as TransferRecord[];
}

/** Types of the webhook events written for the clinic, oldest first. */
export async function webhookTypes(db: Db, clinicId: string): Promise<string[]> {
  const rows = (await db('webhook_events')
    .where({ clinic_id: clinicId })
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .select('type')) as { type: string }[];
  return rows.map((row) => row.type);
}

export async function webhookEvents(
  db: Db,
  clinicId: string,
  type: string,
): Promise<{ object: Record<string, unknown> & { payment?: Record<string, string> } }[]> {
  const rows = (await db('webhook_events').where({ clinic_id: clinicId, type }).select('payload')) as { payload: { object: Record<string, unknown> } }[];
  return rows.map((row) => row.payload);
}

/**
 * The ledger's invariants, checked against the database and the chain once everything seen is
 * final: every entry has two or more postings and sums to zero per asset; each invoice's
 * `deposits` balance is what its deposit address holds on chain; each clinic's `settlement`
 * balance is what reached its settlement wallet.
 */
export async function expectLedgerInvariants(env: SettlementEnv): Promise<void> {
  const { db } = env;
  const pending = (await db('transfers').where({ status: 'pending' }).select('id', 'block_number')) as unknown[];
  expect(pending, 'invariants are checked once every transfer seen is final').toEqual([]);

  const unbalanced = await db('postings')
    .groupBy('entry_id', 'asset')
    .havingRaw('sum(amount) <> 0')
    .select('entry_id', 'asset', db.raw('sum(amount)::text AS total'));
  expect(unbalanced, 'entries that do not sum to zero per asset').toEqual([]);
  const thin = await db('journal_entries')
    .leftJoin('postings', 'postings.entry_id', 'journal_entries.id')
    .groupBy('journal_entries.id')
    .havingRaw('count(postings.id) < 2')
    .select('journal_entries.id');
  expect(thin, 'entries with fewer than two postings').toEqual([]);

  const invoices = (await db('invoices').select('id', 'deposit_address', 'token_address', 'clinic_id', 'settlement_address')) as Pick<
    InvoiceRow,
    'id' | 'deposit_address' | 'token_address' | 'clinic_id' | 'settlement_address'
  >[];
  // Per accepted token: the books of every deposit address and every clinic wallet match the chain.
  const balances = await accountBalances(db);
  for (const { address: token } of env.network.tokens) {
    const asset = `${env.network.chainId}:${token.toLowerCase()}`;
    for (const invoice of invoices) {
      expect({ invoice: invoice.id, token, deposits: await depositBalanceIn(db, invoice.id, asset) }).toEqual({
        invoice: invoice.id,
        token,
        deposits: await balanceOf(env, invoice.deposit_address, token),
      });
    }
    const wallets = new Map(invoices.map((invoice) => [`${invoice.clinic_id}|${invoice.settlement_address}`, invoice]));
    for (const invoice of wallets.values()) {
      const settlement =
        balances.find((account) => account.clinicId === invoice.clinic_id && account.kind === 'settlement' && account.asset === asset)?.balance ?? 0n;
      const onChain = await balanceOf(env, invoice.settlement_address, token);
      expect({ clinic: invoice.clinic_id, token, settlement }).toEqual({ clinic: invoice.clinic_id, token, settlement: onChain });
    }
  }
}

/** The deposits balance of one invoice in one asset, from the postings. */
export async function depositBalanceIn(db: Db, invoiceId: string, asset: string): Promise<bigint> {
  const row = (await db('postings')
    .join('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
    .where({ 'journal_entries.invoice_id': invoiceId, 'ledger_accounts.kind': 'deposits', 'postings.asset': asset })
    .first(db.raw('coalesce(sum(postings.amount), 0)::text AS balance'))) as { balance: string };
  return BigInt(row.balance);
}

/**
 * A JSON-RPC proxy in front of a real node. `failing` names methods it answers with HTTP 503
 * (a node that is overloaded or restarting); `rewriteLogs` changes `eth_getLogs` results on
 * their way back (duplicates, reordering). `upstream` can be switched at any time.
 */
export interface RpcProxy {
  url: string;
  upstream: string;
  failing: Set<string>;
  rewriteLogs: ((logs: unknown[]) => unknown[]) | undefined;
  /** Changes any call's result on its way back (a node that lags, say); `undefined` keeps it. */
  rewrite: ((method: string, params: unknown[], result: unknown) => unknown) | undefined;
  /** Calls seen, by method. */
  calls: Map<string, number>;
  close(): Promise<void>;
}

export async function startRpcProxy(): Promise<RpcProxy> {
  const proxy: Omit<RpcProxy, 'url' | 'close'> = { upstream: '', failing: new Set(), rewriteLogs: undefined, rewrite: undefined, calls: new Map() };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const call = JSON.parse(body) as { method: string; params?: unknown[] };
        proxy.calls.set(call.method, (proxy.calls.get(call.method) ?? 0) + 1);
        if (proxy.failing.has(call.method)) {
          response.writeHead(503, { 'content-type': 'text/plain' }).end('node unavailable');
          return;
        }
        try {
          const upstream = await fetch(proxy.upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          let text = await upstream.text();
          if (call.method === 'eth_getLogs' && proxy.rewriteLogs) {
            const answer = JSON.parse(text) as { result?: unknown[] };
            if (Array.isArray(answer.result)) text = JSON.stringify({ ...answer, result: proxy.rewriteLogs(answer.result) });
          }
          if (proxy.rewrite) {
            const answer = JSON.parse(text) as { result?: unknown };
            if ('result' in answer) text = JSON.stringify({ ...answer, result: proxy.rewrite(call.method, call.params ?? [], answer.result) });
          }
          response.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
        } catch {
          response.destroy();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  });
}
