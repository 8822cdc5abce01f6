/**
 * Statements end to end, on a real anvil, Postgres and HTTP (the "Done when"): a clinic's
 * period with payments, a forwarding, a refund matched on the chain and a payment that a reorg
 * moved to another block; an auditor exports it as JSON, CSV, PDF and FHIR; the verifier passes
 * the untouched statement against the chain, through `npx clinicpay verify` too, and fails each
 * tampered variant — a changed amount, a reordered line, a removed line, a re-rooted forgery,
 * a wrong proof, a forged anchor. And the bad input: reversed or unbounded periods, other
 * clinics, roles that may not ask.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { encodeFunctionData, erc20Abi, getAddress, type LocalAccount } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/domain/canonicalJson.js';
import { leafHash, merkleRoot } from '../src/domain/merkle.js';
import { createLogger } from '../src/platform/log.js';
import { matchRefunds } from '../src/recon/resolutions.js';
import { anchorCalldata, completeAnchors } from '../src/reports/statementAnchor.js';
import type { EntryLine, StatementDocument, StatementLine } from '../src/reports/statementDocument.js';
import { type LineProof, verifyLineProof, verifyStatement, verifyStatementOffline } from '../src/reports/verifyStatement.js';
import { relayerOnce } from '../src/settlement/relayer.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { audited } from './support/database.js';
import { expectValidR4 } from './support/fhirValidation.js';
import { spawnClinicpay } from './support/gatewayProcess.js';
import {
  clinicWithWallet,
  csvRecords,
  exceptionOf,
  FINANCE_A,
  FINANCE_B,
  post,
  type ReconEnv,
  type ResolutionBody,
  reconcile,
  refundMatcher,
  sendRefund,
  settleAll,
  startReconEnv,
} from './support/recon.js';
import {
  anvilRpc,
  CONFIRMATIONS,
  mine,
  newClinic,
  newInvoice,
  pay,
  readInvoice,
  settle,
  signPayment,
  syncUntilCaughtUp,
  watcher,
} from './support/settlement.js';

const AUDITOR = tokenFor('auditor', undefined, 'auditor-ann');

let r: ReconEnv;
let anchoringApp: Express;
let clinic: Awaited<ReturnType<typeof clinicWithWallet>>;
let period: { from: string; to: string };
let statement: StatementDocument;
let workDir: string;

function getStatement(app: Express, token: string, query: Record<string, string>) {
  return request(app).get('/v1/statements').query(query).set(bearer(token)).buffer(true).parse(textParser);
}

/** Reads any body as text: UTF-8, or byte for byte (latin1) for a PDF. */
function textParser(res: request.Response, callback: (error: Error | null, body: string) => void): void {
  // supertest hands a custom parser the raw response stream, typed as its Response.
  const stream = res as unknown as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding(String(res.headers['content-type']).startsWith('application/pdf') ? 'latin1' : 'utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => callback(null, text));
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Re-roots a tampered statement the way a forger would, so only the chain can catch it. */
function reRooted(document: StatementDocument): StatementDocument {
  return { ...document, merkle_root: merkleRoot(document.lines.map((line) => leafHash(canonicalJson(line)))).toString('hex') };
}

function lineOfType(document: StatementDocument, type: StatementLine['type']): EntryLine {
  return document.lines.find((line) => line.type === type) as EntryLine;
}

beforeAll(async () => {
  r = await startReconEnv();
  const e = r.env;
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-statements-'));
  ({ app: anchoringApp } = await buildTestApp({
    db: e.db,
    rpcUrl: e.rpcUrl,
    network: e.network,
    overrides: { anchorer: { chainId: e.network.chainId, relayer: e.relayer.address } },
  }));
  clinic = await clinicWithWallet(e);
  const from = new Date(Date.now() - 1000);

  // 1. A payment of the exact amount, posted and forwarded to the clinic.
  const paid = await newInvoice(e, clinic, { amount: '12.34' });
  await pay(e, paid.deposit_address, BigInt(paid.token_amount_due));

  // 2. An overpayment refunded: proposed, approved by a second user, sent by the clinic, matched.
  const over = await newInvoice(e, clinic, { amount: '10.00' });
  await pay(e, over.deposit_address, 13_000_000n);
  await settleAll(e);
  const run = await reconcile(r.app);
  expect(run.status).toBe('completed');
  const exception = await exceptionOf(r.app, 'overpayment', over.id);
  const proposed = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, { action: 'refund' });
  const approved = await post(r.app, FINANCE_B, `/v1/resolutions/${(proposed.body as ResolutionBody).id}/approve`);
  expect(approved.status).toBe(200);
  await sendRefund(e, clinic.owner, encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [getAddress(e.payer.address), 3_000_000n] }));
  await mine(e, CONFIRMATIONS);
  expect(await matchRefunds(refundMatcher(e))).toBe(1);

  // 3. A payment posted, then moved to another block by a reorg: posted, reversed, posted again.
  const moved = await newInvoice(e, clinic, { amount: '5.00' });
  const raw = await signPayment(e, moved.deposit_address, BigInt(moved.token_amount_due));
  await e.chain.publicClient.waitForTransactionReceipt({ hash: await e.chain.publicClient.sendRawTransaction({ serializedTransaction: raw }) });
  await settle(e);
  await anvilRpc(e, 'anvil_reorg', [CONFIRMATIONS + 1, [[raw, CONFIRMATIONS]]]);
  await syncUntilCaughtUp(watcher(e));
  await settleAll(e);
  expect((await readInvoice(e, moved.id)).status).toBe('paid');

  // 4. An invoice nobody paid.
  await newInvoice(e, clinic, { amount: '99.00' });

  period = { from: from.toISOString(), to: new Date(Date.now() + 60_000).toISOString() };
  const response = await getStatement(r.app, AUDITOR, { clinic_id: clinic.id, ...period, format: 'json' });
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  statement = JSON.parse(response.body as string) as StatementDocument;
}, 120_000);

afterAll(async () => {
  await r?.env.close();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe('the JSON statement', () => {
  it('has every invoice, payment, forwarding, refund and the reorg, with balances that add up', () => {
    const types = statement.lines.map((line) => line.type);
    expect(types[0]).toBe('opening_balance');
    expect(types.at(-1)).toBe('closing_balance');
    const count = (type: string) => types.filter((candidate) => candidate === type).length;
    expect(count('invoice')).toBe(4);
    expect(count('payment')).toBe(4); // exact, over, and the moved one twice
    expect(count('reversal')).toBe(1);
    expect(count('forward')).toBeGreaterThanOrEqual(3);
    expect(count('refund')).toBe(1);
    expect(statement).toMatchObject({
      object: 'statement',
      clinic: { id: clinic.id, name: 'Kowloon Clinic' },
      currency: 'HKD',
      line_count: statement.lines.length,
    });
    expect(statement.merkle_root).toMatch(/^[0-9a-f]{64}$/);
    expect(statement.audit_log_head?.row_hash).toMatch(/^[0-9a-f]{64}$/);
    // Paid 12.34 + 13.00 + 5.00, refunded 3.00: 27.34 HKD held by the clinic, nothing before.
    expect(statement.opening_balance.token_amount).toBe('0');
    expect(statement.closing_balance).toMatchObject({ token_amount: '27340000', hkd_amount: '27.34' });
    const payment = lineOfType(statement, 'payment');
    expect(payment.transfer).toMatchObject({ log_index: expect.any(Number), confirmations: expect.any(Number) });
    expect(payment.transfer!.confirmations!).toBeGreaterThanOrEqual(CONFIRMATIONS);
    expect(lineOfType(statement, 'refund')).toMatchObject({
      token_amount: '3000000',
      hkd_amount: '3.00',
      postings: { patient_payments: '3000000', settlement: '-3000000' },
    });
    expect(lineOfType(statement, 'refund').refund_transfer?.tx_hash).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('passes the verifier offline and against the chain', async () => {
    const report = await verifyStatement(statement, { chain: r.env.client });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.notes.join('\n')).toMatch(/reversed by a reorg/);
  });

  it('is the same statement when fetched again by id', async () => {
    const again = await request(r.app).get(`/v1/statements/${statement.id}`).set(bearer(AUDITOR));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(statement);
  });

  it('is recorded, and its generation and root are in the audit log', async () => {
    const row = await r.env.db('statements').where({ id: statement.id }).first();
    expect(row).toMatchObject({ clinic_id: clinic.id, merkle_root: statement.merkle_root, line_count: statement.lines.length, generated_by: 'auditor-ann' });
    const actions = await (await audited(r.env.db))('audit_log').where({ target_id: statement.id }).orderBy('seq').pluck('action');
    expect(actions).toEqual(['statement.generated', 'statement.sealed']);
  });
});

describe('tampered statements fail the verifier, naming the line', () => {
  it('a changed amount', () => {
    const forged = clone(statement);
    const payment = forged.lines.find((line) => line.type === 'payment') as EntryLine;
    payment.token_amount = (BigInt(payment.token_amount) * 10n).toString();
    const report = verifyStatementOffline(forged);
    expect(report.ok).toBe(false);
    expect(report.failures.some((failure) => failure.reason.includes('merkle_root does not match'))).toBe(true);
    expect(report.failures.some((failure) => failure.line === payment.line)).toBe(true);
  });

  it('a reordered line', () => {
    const forged = clone(statement);
    [forged.lines[2], forged.lines[3]] = [forged.lines[3]!, forged.lines[2]!];
    const report = verifyStatementOffline(forged);
    expect(report.ok).toBe(false);
    expect(report.failures.map((failure) => failure.line)).toEqual(expect.arrayContaining([3, 4]));
  });

  it('a removed line', () => {
    const forged = clone(statement);
    const index = forged.lines.findIndex((line) => line.type === 'refund');
    forged.lines.splice(index, 1);
    const report = verifyStatementOffline(forged);
    expect(report.ok).toBe(false);
    expect(report.failures.some((failure) => failure.line === index + 1 && /line number/.test(failure.reason))).toBe(true);
  });

  it('an audit log head changed in the header, or in the closing line whose hash the root covers', () => {
    const closing = statement.lines.at(-1) as { type: string; audit_log_head: unknown; line: number };
    expect(closing.type).toBe('closing_balance');
    expect(closing.audit_log_head).toEqual(statement.audit_log_head);
    const otherHead = { seq: statement.audit_log_head!.seq, row_hash: 'ab'.repeat(32) };

    const inHeader = clone(statement);
    inHeader.audit_log_head = otherHead;
    expect(verifyStatementOffline(inHeader).failures).toEqual([{ line: closing.line, reason: "the header's audit log head differs from the closing line's" }]);

    const inLine = clone(statement);
    inLine.audit_log_head = otherHead;
    (inLine.lines.at(-1) as { audit_log_head: unknown }).audit_log_head = otherHead;
    const report = verifyStatementOffline(inLine);
    expect(report.ok).toBe(false);
    expect(report.failures.some((failure) => failure.reason.includes('merkle_root does not match'))).toBe(true);
  });

  it('a forgery with a recomputed root and consistent amounts is caught on the chain', async () => {
    const forged = clone(statement);
    const payment = forged.lines.find((line) => line.type === 'payment') as EntryLine;
    payment.transfer!.block_number = (BigInt(payment.transfer!.block_number) + 1n).toString();
    const rerooted = reRooted(forged);
    expect(verifyStatementOffline(rerooted).ok).toBe(true);
    const report = await verifyStatement(rerooted, { chain: r.env.client });
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual([{ line: payment.line, reason: expect.stringMatching(/in block \d+, not/) }]);
  });
});

describe('line proofs', () => {
  it('prove a line against the root; a wrong path, a changed line or another root fail', async () => {
    const payment = lineOfType(statement, 'payment');
    const response = await request(r.app).get(`/v1/statements/${statement.id}/proof`).query({ line: payment.line }).set(bearer(AUDITOR));
    expect(response.status).toBe(200);
    const proof = response.body as LineProof;
    expect(proof).toMatchObject({
      object: 'statement_line_proof',
      line: payment.line,
      leaf: payment,
      tree_size: statement.lines.length,
      merkle_root: statement.merkle_root,
    });
    expect(verifyLineProof(proof, statement.merkle_root)).toMatchObject({ ok: true, failures: [] });

    const wrongPath = clone(proof);
    wrongPath.audit_path[0] = 'ff'.repeat(32);
    expect(verifyLineProof(wrongPath).failures).toEqual([{ line: payment.line, reason: expect.stringMatching(/leads to/) }]);
    const changed = clone(proof);
    (changed.leaf as EntryLine).token_amount = '1';
    expect(verifyLineProof(changed).ok).toBe(false);
    expect(verifyLineProof(proof, 'ab'.repeat(32)).failures).toEqual([{ line: payment.line, reason: expect.stringMatching(/not the expected root/) }]);
  });

  it('a line outside the statement is a 400', async () => {
    const response = await request(r.app)
      .get(`/v1/statements/${statement.id}/proof`)
      .query({ line: statement.lines.length + 1 })
      .set(bearer(AUDITOR));
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ code: 'invalid_request', param: 'line' });
  });
});

describe('anchoring', () => {
  it('is refused where it is not enabled', async () => {
    const response = await post(r.app, AUDITOR, `/v1/statements/${statement.id}/anchor`);
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('anchoring_disabled');
  });

  it('queues the root with the relayer sender, answers 202 until it is mined, then the anchor; once', async () => {
    const queued = await post(anchoringApp, AUDITOR, `/v1/statements/${statement.id}/anchor`);
    expect(queued.status, queued.text).toBe(202);
    expect(queued.body).toMatchObject({
      object: 'statement_anchor',
      statement_id: statement.id,
      status: 'pending',
      relayer_transaction_id: expect.stringMatching(/^rtx_/),
    });
    // A second request while it is under way queues nothing more.
    const meanwhile = await post(anchoringApp, FINANCE_A, `/v1/statements/${statement.id}/anchor`);
    expect(meanwhile.status).toBe(202);
    expect(meanwhile.body.relayer_transaction_id).toBe(queued.body.relayer_transaction_id);
    expect(await r.env.db('relayer_transactions').where({ purpose: 'anchor' }).count({ n: '*' })).toEqual([{ n: '1' }]);

    // The relayer worker's pass: send, see it mined, record the anchor.
    const sender = {
      db: r.env.db,
      chain: r.env.client,
      chainId: r.env.network.chainId,
      account: r.env.relayer.account as LocalAccount,
      logger: createLogger('silent'),
      replaceAfterMs: 60_000,
    };
    expect(await relayerOnce(sender)).toMatchObject({ sent: 1 });
    expect(await relayerOnce(sender)).toMatchObject({ mined: 1 });
    expect(await completeAnchors(r.env.db)).toBe(1);

    const first = await post(anchoringApp, AUDITOR, `/v1/statements/${statement.id}/anchor`);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('anchored');
    const again = await post(anchoringApp, FINANCE_A, `/v1/statements/${statement.id}/anchor`);
    expect(again.body).toEqual(first.body);
    const transaction = await r.env.client.getTransaction({ hash: first.body.tx_hash });
    expect(transaction.input).toBe(anchorCalldata(statement.merkle_root));

    const anchored = (await request(r.app).get(`/v1/statements/${statement.id}`).set(bearer(AUDITOR))).body as StatementDocument;
    expect(anchored.anchor).toMatchObject({ tx_hash: first.body.tx_hash, from_address: getAddress(r.env.relayer.address) });
    expect(anchored.merkle_root).toBe(statement.merkle_root);
    const checked = await verifyStatement(anchored, { chain: r.env.client, anchorFrom: r.env.relayer.address });
    expect(checked.failures).toEqual([]);

    // A payment's transaction passed off as the anchor, and a self-transaction by someone else carrying the root.
    const payment = lineOfType(statement, 'payment');
    const notAnAnchor = await verifyStatement({ ...anchored, anchor: { ...anchored.anchor!, tx_hash: payment.transfer!.tx_hash } }, { chain: r.env.client });
    expect(notAnAnchor.ok).toBe(false);
    const mallory = r.env.payer;
    const hash = await mallory.wallet.sendTransaction({
      to: mallory.address,
      data: anchorCalldata(reRooted({ ...anchored, lines: anchored.lines.slice(0, -1) }).merkle_root),
    });
    const receipt = await r.env.chain.publicClient.waitForTransactionReceipt({ hash });
    const forged = {
      ...anchored,
      anchor: { chain_id: anchored.chain_id, tx_hash: hash, block_number: receipt.blockNumber.toString(), from_address: getAddress(mallory.address) },
    };
    const report = await verifyStatement(forged, { chain: r.env.client, anchorFrom: r.env.relayer.address });
    expect(report.failures).toEqual([{ reason: expect.stringMatching(/not the gateway's anchoring address/) }]);
    const withoutPinnedSender = await verifyStatement(forged, { chain: r.env.client });
    expect(withoutPinnedSender.failures).toEqual([{ reason: expect.stringMatching(/does not carry the root/) }]);
  });
});

describe('npx clinicpay verify', () => {
  async function cli(file: string, ...args: string[]): Promise<{ code: number | string; output: string }> {
    const run = spawnClinicpay(['verify', file, ...args], { DATA_DIR: path.join(workDir, 'data') });
    const code = await run.exited;
    return { code, output: run.output() };
  }

  it('exits 0 for the untouched statement and its proof against the chain, 1 naming the line for a tampered one', async () => {
    const good = path.join(workDir, 'statement.json');
    fs.writeFileSync(good, JSON.stringify(statement));
    const passed = await cli(good, '--rpc', r.env.rpcUrl);
    expect(passed.output).toMatch(/verified/);
    expect(passed.code).toBe(0);

    const forged = clone(statement);
    const refund = forged.lines.find((line) => line.type === 'refund') as EntryLine;
    refund.postings = { patient_payments: '1000000', settlement: '-1000000' };
    const bad = path.join(workDir, 'forged.json');
    fs.writeFileSync(bad, JSON.stringify(forged));
    const failed = await cli(bad);
    expect(failed.code).toBe(1);
    expect(failed.output).toMatch(new RegExp(`FAIL  line ${refund.line}: token_amount`));
    expect(failed.output).toMatch(/NOT verified/);

    const proof = await request(r.app).get(`/v1/statements/${statement.id}/proof`).query({ line: 2 }).set(bearer(AUDITOR));
    const proofFile = path.join(workDir, 'proof.json');
    fs.writeFileSync(proofFile, JSON.stringify(proof.body));
    expect((await cli(proofFile, '--root', statement.merkle_root)).code).toBe(0);
    expect((await cli(proofFile, '--root', 'cd'.repeat(32))).code).toBe(1);
  }, 60_000);
});

describe('the other formats', () => {
  it("CSV: a header and one row per line, with each line's leaf hash", async () => {
    const response = await getStatement(r.app, tokenFor('finance'), { clinic_id: clinic.id, ...period, format: 'csv' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    const { header, records } = csvRecords(response.body as string);
    expect(header.slice(0, 4)).toEqual(['statement_id', 'line', 'type', 'occurred_at']);
    expect(records.length).toBe(statement.lines.length);
    expect(records.map((record) => record.type)).toEqual(statement.lines.map((line) => line.type));
    const statementId = response.headers['clinicpay-statement-id'] as string;
    const json = (await request(r.app).get(`/v1/statements/${statementId}`).set(bearer(AUDITOR))).body as StatementDocument;
    expect(records.map((record) => record.leaf_hash)).toEqual(json.lines.map((line) => leafHash(canonicalJson(line)).toString('hex')));
  });

  it('PDF: a PDF document', async () => {
    const response = await getStatement(r.app, AUDITOR, { clinic_id: clinic.id, ...period, format: 'pdf', lang: 'zh-HK' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/pdf');
    const body = response.body as string;
    expect(body.startsWith('%PDF-')).toBe(true);
    expect(body.trimEnd().endsWith('%%EOF')).toBe(true);
  });

  it('FHIR: a Bundle that validates against R4', async () => {
    const response = await getStatement(r.app, AUDITOR, { clinic_id: clinic.id, ...period, format: 'fhir' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const bundle = JSON.parse(response.body as string) as { resourceType: string; entry: unknown[] };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry.length).toBeGreaterThanOrEqual(statement.lines.length - 2);
    expectValidR4(bundle);
  });
});

describe('bad input and other clinics', () => {
  async function statementCount(): Promise<number> {
    return Number(((await r.env.db('statements').count('* as count')) as { count: string }[])[0]!.count);
  }

  it('reversed, empty, unbounded or future periods are 400s that record nothing', async () => {
    const before = await statementCount();
    const cases: [Record<string, string>, string][] = [
      [{ from: period.to, to: period.from }, 'to'],
      [{ from: period.from, to: period.from }, 'to'],
      [{ from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'to'],
      [{ from: new Date(Date.now() + 86_400_000).toISOString(), to: new Date(Date.now() + 2 * 86_400_000).toISOString() }, 'from'],
      [{ from: 'yesterday', to: period.to }, 'from'],
    ];
    for (const [query, param] of cases) {
      const response = await getStatement(r.app, AUDITOR, { clinic_id: clinic.id, ...query });
      expect(response.status, JSON.stringify(query)).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(response.body as string)).toMatchObject({ param });
    }
    const missing = await request(r.app).get('/v1/statements').query({ from: period.from, to: period.to }).set(bearer(AUDITOR));
    expect(missing.status).toBe(400);
    expect(await statementCount()).toBe(before);
  });

  it('a clinic role sees its own clinic only (404 otherwise); staff and platform admins may not ask', async () => {
    const other = await newClinic(r.env);
    const own = await getStatement(r.app, tokenFor('clinic_admin', clinic.id), { clinic_id: clinic.id, ...period });
    expect(own.status).toBe(200);
    const foreign = await getStatement(r.app, tokenFor('clinic_admin', other.id), { clinic_id: clinic.id, ...period });
    expect(foreign.status).toBe(404);
    const foreignById = await request(r.app)
      .get(`/v1/statements/${statement.id}`)
      .set(bearer(tokenFor('clinic_admin', other.id)));
    expect(foreignById.status).toBe(404);
    const foreignProof = await request(r.app)
      .get(`/v1/statements/${statement.id}/proof`)
      .query({ line: 1 })
      .set(bearer(tokenFor('clinic_admin', other.id)));
    expect(foreignProof.status).toBe(404);
    expect((await getStatement(r.app, tokenFor('clinic_staff', clinic.id), { clinic_id: clinic.id, ...period })).status).toBe(403);
    expect((await getStatement(r.app, tokenFor('platform_admin'), { clinic_id: clinic.id, ...period })).status).toBe(403);
    const unknown = await getStatement(r.app, AUDITOR, { clinic_id: 'clin_000000000000000000000000', ...period });
    expect(unknown.status).toBe(404);
  });
});
