/**
 * The money invariants, as queries and reads of the chain. `duringRun` holds after every step,
 * whatever faults are in flight; `afterSettling` once every fault is healed and the gateway has
 * caught up with the chain. Each returns the violations it found, as sentences.
 */
import { type Address, erc20Abi } from 'viem';
import { verifyAuditLog } from '../src/audit/auditLog.js';
import type { ChainClient } from '../src/chain/client.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { type InvoiceStatus, settledStatus } from '../src/domain/invoiceStatus.js';
import type { Db } from '../src/platform/db.js';
import type { RunRow } from '../src/recon/runs.js';
import type { WebhookReceiver } from './stack.js';
import { statementViolations } from './statementCheck.js';

export interface InvariantContext {
  /** The run's database, as its owner. */
  db: Db;
  direct: ChainClient;
  receiver: WebhookReceiver;
  token: Address;
  chainId: number;
  confirmations: number;
  /** The gateway's chain and tokens, as the run's instances were given them: statements are served with it. */
  network: PaymentNetwork;
}

export async function duringRun({ db, receiver, confirmations }: InvariantContext): Promise<string[]> {
  const violations: string[] = [];
  const unbalanced = (await db.raw(`SELECT entry_id FROM postings GROUP BY entry_id, asset HAVING sum(amount) <> 0 LIMIT 1`)).rows as { entry_id: string }[];
  if (unbalanced.length) violations.push(`entry ${unbalanced[0]!.entry_id} does not balance`);
  // Each transfer is on the books exactly while it is confirmed: one entry, or none once reversed.
  const posted = (
    await db.raw(`
      SELECT t.id, t.status, t.kind, coalesce(e.net, 0) AS net
        FROM transfers t
        LEFT JOIN (SELECT transfer_id, count(*) FILTER (WHERE kind <> 'reversal') - count(*) FILTER (WHERE kind = 'reversal') AS net
                     FROM journal_entries WHERE transfer_id IS NOT NULL GROUP BY transfer_id) e ON e.transfer_id = t.id
       WHERE coalesce(e.net, 0) <> CASE WHEN t.status = 'confirmed' AND t.kind <> 'foreign_token' AND t.amount > 0 THEN 1 ELSE 0 END
       LIMIT 1`)
  ).rows as { id: string; status: string; kind: string; net: string }[];
  if (posted.length) {
    const { id, status, kind, net } = posted[0]!;
    violations.push(`transfer ${id} (${kind}, ${status}) is on the books ${net} times`);
  }
  const early = (await db.raw(`SELECT id, confirmations FROM transfers WHERE status = 'confirmed' AND confirmations < ? LIMIT 1`, [confirmations])).rows as {
    id: string;
    confirmations: number;
  }[];
  if (early.length) violations.push(`transfer ${early[0]!.id} was posted with ${early[0]!.confirmations} confirmations, before it was final`);
  const chain = (await db.raw(`SELECT count(*)::int AS rows, coalesce(max(seq), 0)::int AS last, coalesce(min(seq), 1)::int AS first FROM audit_log`))
    .rows[0] as {
    rows: number;
    last: number;
    first: number;
  };
  if (chain.rows !== chain.last || chain.first !== 1) violations.push(`the audit chain has a gap: ${chain.rows} rows up to position ${chain.last}`);
  const nonces = (
    await db.raw(
      `SELECT nonce, string_agg(purpose || ' ' || status || ' in block ' || coalesce(block_number::text, '-'), '; ') AS uses
         FROM relayer_transactions WHERE status IN ('signed', 'sent') GROUP BY nonce HAVING count(*) > 1 LIMIT 1`,
    )
  ).rows as { nonce: string; uses: string }[];
  // In flight, that is: a transaction a reorg dropped gives its nonce back (see the relayer), so a
  // nonce may be mined twice in the records, once on a chain that no longer is.
  if (nonces.length) violations.push(`relayer nonce ${nonces[0]!.nonce} is used by two transactions (${nonces[0]!.uses})`);
  for (const [id, bodies] of receiver.bodies) if (bodies.size > 1) violations.push(`webhook event ${id} was delivered with ${bodies.size} different bodies`);
  return violations;
}

export async function afterSettling(context: InvariantContext): Promise<string[]> {
  const { db, direct, receiver, token, chainId } = context;
  const violations = await duringRun(context);
  const asset = `${chainId}:${token.toLowerCase()}`;
  const balanceOf = (holder: string) => direct.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [holder as Address] });
  // Every deposit address and every clinic wallet: the books say what the chain holds.
  const deposits = (
    await db.raw(
      `SELECT i.id, i.deposit_address,
              coalesce((SELECT sum(p.amount)
                          FROM postings p
                          JOIN journal_entries e ON e.id = p.entry_id
                          JOIN ledger_accounts a ON a.id = p.account_id
                         WHERE e.invoice_id = i.id AND a.kind = 'deposits' AND p.asset = ?), 0)::text AS books
         FROM invoices i`,
      [asset],
    )
  ).rows as { id: string; deposit_address: string; books: string }[];
  for (const invoice of deposits) {
    const onChain = await balanceOf(invoice.deposit_address);
    if (onChain !== BigInt(invoice.books))
      violations.push(`invoice ${invoice.id}: the books hold ${invoice.books} at its deposit address, the chain ${onChain}`);
  }
  const wallets = (
    await db.raw(
      `SELECT c.id, c.settlement_address, coalesce(sum(p.amount), 0)::text AS books
         FROM clinics c
         LEFT JOIN ledger_accounts a ON a.clinic_id = c.id AND a.kind = 'settlement' AND a.asset = ?
         LEFT JOIN postings p ON p.account_id = a.id
        GROUP BY c.id, c.settlement_address`,
      [asset],
    )
  ).rows as { id: string; settlement_address: string; books: string }[];
  for (const clinic of wallets) {
    const onChain = await balanceOf(clinic.settlement_address);
    if (onChain !== BigInt(clinic.books)) violations.push(`clinic ${clinic.id}: the books say ${clinic.books} reached its wallet, the chain ${onChain}`);
  }
  // Every final transfer of the token into a deposit address is posted, once; nothing else is.
  const head = await direct.getBlockNumber({ cacheTime: 0 });
  const logs = await direct.getLogs({
    address: token,
    event: erc20Abi.find((item) => item.type === 'event' && item.name === 'Transfer')!,
    fromBlock: 0n,
    toBlock: head - BigInt(context.confirmations) + 1n,
  });
  const addresses = new Set(deposits.map((invoice) => invoice.deposit_address));
  const onChain = new Set(logs.filter((log) => addresses.has(log.args.to!.toLowerCase())).map((log) => `${log.transactionHash}:${log.logIndex}`));
  const confirmed = (await db.raw(`SELECT tx_hash || ':' || log_index AS key FROM transfers WHERE status = 'confirmed' AND kind = 'payment'`)).rows as {
    key: string;
  }[];
  const books = new Set(confirmed.map((row) => row.key));
  for (const key of onChain) if (!books.has(key)) violations.push(`the final payment ${key} is not on the books`);
  for (const key of books) if (!onChain.has(key)) violations.push(`the books hold a payment ${key} the chain does not have`);
  // Each invoice says what its confirmed payments say.
  const invoices = (
    await db.raw(
      `SELECT i.id, i.status, i.token_amount_due::text AS due, i.token_amount_paid::text AS paid, i.token_amount_pending::text AS pending,
              coalesce((SELECT sum(t.amount) FROM transfers t WHERE t.invoice_id = i.id AND t.kind = 'payment' AND t.status = 'confirmed'), 0)::text AS confirmed
         FROM invoices i`,
    )
  ).rows as { id: string; status: InvoiceStatus; due: string; paid: string; pending: string; confirmed: string }[];
  for (const invoice of invoices) {
    const paid = BigInt(invoice.paid);
    if (paid !== BigInt(invoice.confirmed))
      violations.push(`invoice ${invoice.id} says ${invoice.paid} paid; its confirmed payments add up to ${invoice.confirmed}`);
    if (BigInt(invoice.pending) !== 0n || invoice.status === 'processing')
      violations.push(`invoice ${invoice.id} is still ${invoice.status} with ${invoice.pending} pending once everything is final`);
    // Expired and void invoices keep their status whatever arrives; the others follow the amounts (no tolerance here).
    if (['open', 'paid', 'underpaid', 'overpaid'].includes(invoice.status)) {
      const expected = paid === 0n ? 'open' : settledStatus(BigInt(invoice.due), paid, 0n);
      if (invoice.status !== expected)
        violations.push(`invoice ${invoice.id} is ${invoice.status} with ${invoice.paid} of ${invoice.due} paid: it should be ${expected}`);
    }
  }
  // What the relayer's records say was mined is on the chain, in the block they name.
  const mined = (await db.raw(`SELECT id, tx_hash, block_number::text AS block FROM relayer_transactions WHERE status = 'mined'`)).rows as {
    id: string;
    tx_hash: `0x${string}`;
    block: string;
  }[];
  for (const transaction of mined) {
    const receipt = await direct.getTransactionReceipt({ hash: transaction.tx_hash }).catch(() => undefined);
    if (receipt?.blockNumber.toString() !== transaction.block) {
      violations.push(
        `relayer transaction ${transaction.id} is recorded mined in block ${transaction.block}; the chain has it ${receipt ? `in block ${receipt.blockNumber}` : 'nowhere'}`,
      );
    }
  }
  // Every webhook event reached the receiver; the audit chain verifies.
  const undelivered = (await db.raw(`SELECT id, status FROM webhook_events WHERE status <> 'delivered' OR id <> ALL(?) LIMIT 1`, [[...receiver.bodies.keys()]]))
    .rows as { id: string; status: string }[];
  if (undelivered.length) violations.push(`webhook event ${undelivered[0]!.id} (${undelivered[0]!.status}) never reached the receiver`);
  const audit = await verifyAuditLog(db);
  if (!audit.ok) violations.push(`the audit chain does not verify: ${JSON.stringify(audit.first_broken)}`);
  // Each clinic's statement of the run passes the auditor's verifier, offline and against the chain.
  // Last: asking for a statement records it (audited), as the gateway does, so the checks above see the run alone.
  violations.push(...(await statementViolations(context)));
  return violations;
}

/**
 * Exceptions that say the books and the chain differ: a transfer on the chain the ledger does
 * not hold, one the ledger holds that the chain does not, a balance that does not add up. Others
 * (an overpayment, a late payment, a token the gateway does not accept) are money that arrived
 * as it should not, kept for a person to resolve: the books and the chain agree about them.
 */
const DIFFERENCES = new Set(['missing_on_chain', 'balance_mismatch', 'unknown_transfer:not_in_ledger', 'unknown_transfer:unexpected_outflow']);

/** What a reconciliation of the whole run, after settling, found that it should not have. */
export async function reconciliationDifferences(db: Db, run: RunRow): Promise<string[]> {
  if (run.status !== 'completed') return [`the final reconciliation ${run.id} is ${run.status}: ${run.error ?? 'no error recorded'}`];
  const found = (await db('exceptions').where({ last_run_id: run.id }).whereNot({ status: 'resolved' }).select('id', 'type', 'details', 'tx_hash')) as {
    id: string;
    type: string;
    details: { reason?: string };
    tx_hash: string | null;
  }[];
  return found
    .filter((exception) => DIFFERENCES.has(exception.type) || DIFFERENCES.has(`${exception.type}:${exception.details.reason}`))
    .map(
      (exception) => `the final reconciliation found ${exception.type} ${exception.details.reason ?? ''} (${exception.id}, tx ${exception.tx_hash ?? 'none'})`,
    );
}
