/**
 * The auditor's verifier: checks a statement (or one line with its proof) without trusting the
 * gateway — offline, the Merkle root and the arithmetic; given an RPC node, every payment line
 * against the chain and the anchor, if there is one.
 *
 * Each check that fails is reported with the line it concerns and why; a statement holds only
 * when no check fails.
 */
import { decodeEventLog, erc20Abi, getAddress, type Hex, type TransactionReceipt } from 'viem';
import type { ChainClient } from '../chain/client.js';
import { canonicalJson } from '../domain/canonicalJson.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { leafHash, merkleRoot, rootFromAuditPath } from '../domain/merkle.js';
import { anchorCalldata } from './anchorCalldata.js';
import { type EntryLine, STATEMENT_ACCOUNT_KINDS, type StatementAnchor, type StatementDocument, type StatementLine } from './statementDocument.js';

export interface VerificationFailure {
  /** The line concerned (1-based), when the failure is about one. */
  line?: number;
  reason: string;
}

export interface VerificationReport {
  ok: boolean;
  failures: VerificationFailure[];
  /** What was checked, for the report a person reads. */
  notes: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

function isBalanceLine(line: StatementLine): line is Extract<StatementLine, { type: 'opening_balance' | 'closing_balance' }> {
  return line.type === 'opening_balance' || line.type === 'closing_balance';
}

function isEntryLine(line: StatementLine): line is EntryLine {
  return !isBalanceLine(line) && line.type !== 'invoice';
}

/**
 * Offline checks: line numbering and order, the Merkle root over the lines, each entry's
 * postings summing to zero and matching its amounts, and opening + movements = closing for
 * every account, with the header agreeing with the balance lines.
 */
export function verifyStatementOffline(document: StatementDocument): VerificationReport {
  const failures: VerificationFailure[] = [];
  const notes: string[] = [];
  if (document?.object !== 'statement' || !Array.isArray(document.lines)) {
    return { ok: false, failures: [{ reason: 'not a ClinicPay statement (object "statement" with lines)' }], notes };
  }
  const { lines } = document;
  const decimals = document.token?.decimals;

  // 1. The root: any change, insertion, removal or reordering of a line changes it.
  if (typeof document.merkle_root !== 'string' || !HEX64.test(document.merkle_root)) failures.push({ reason: 'merkle_root is not 64 lower-case hex digits' });
  const root = merkleRoot(lines.map((line) => leafHash(canonicalJson(line)))).toString('hex');
  if (root !== document.merkle_root)
    failures.push({ reason: `merkle_root does not match the lines (they give ${root}): a line was changed, added, removed or reordered` });
  else notes.push(`merkle root ${root} matches all ${lines.length} lines`);
  if (document.line_count !== lines.length) failures.push({ reason: `line_count says ${document.line_count}, the statement has ${lines.length} lines` });

  // 2. Numbering and shape.
  lines.forEach((line, index) => {
    if (line.line !== index + 1)
      failures.push({ line: index + 1, reason: `line number ${line.line} where ${index + 1} belongs: lines were removed, added or reordered` });
  });
  if (lines[0]?.type !== 'opening_balance') failures.push({ line: 1, reason: 'the first line is not the opening balance' });
  if (lines.at(-1)?.type !== 'closing_balance') failures.push({ line: lines.length, reason: 'the last line is not the closing balance' });
  lines.slice(1, -1).forEach((line) => {
    if (isBalanceLine(line)) failures.push({ line: line.line, reason: `a ${line.type} line in the middle of the statement` });
  });

  // 3. Each entry balances and says the amounts its postings say.
  const running = new Map<string, bigint>();
  const opening = lines[0];
  const closing = lines.at(-1);
  if (opening && isBalanceLine(opening)) for (const kind of STATEMENT_ACCOUNT_KINDS) running.set(kind, BigInt(opening.balances[kind] ?? '0'));
  for (const line of lines) {
    if (!isEntryLine(line)) continue;
    const amounts = Object.values(line.postings).map((amount) => BigInt(amount!));
    const sum = amounts.reduce((total, amount) => total + amount, 0n);
    if (sum !== 0n) failures.push({ line: line.line, reason: `its postings sum to ${sum}, not zero` });
    const largest = amounts.reduce((max, amount) => ((amount < 0n ? -amount : amount) > max ? (amount < 0n ? -amount : amount) : max), 0n);
    if (amounts.length > 0 && largest.toString() !== line.token_amount)
      failures.push({ line: line.line, reason: `token_amount ${line.token_amount} is not the size of its postings (${largest})` });
    const hkd = decimals === undefined ? undefined : tokenUnitsToFiat(BigInt(line.token_amount), decimals, CURRENCIES.HKD!);
    if (hkd !== undefined && hkd !== line.hkd_amount)
      failures.push({ line: line.line, reason: `hkd_amount ${line.hkd_amount} is not ${hkd} for ${line.token_amount} base units` });
    if (line.transfer && line.transfer.amount !== line.token_amount)
      failures.push({ line: line.line, reason: `the transfer moved ${line.transfer.amount} but the line says ${line.token_amount}` });
    for (const [kind, amount] of Object.entries(line.postings)) running.set(kind, (running.get(kind) ?? 0n) + BigInt(amount!));
  }

  // 4. Opening + movements = closing, and the header says what the balance lines say.
  if (closing && isBalanceLine(closing) && opening && isBalanceLine(opening)) {
    for (const kind of STATEMENT_ACCOUNT_KINDS) {
      const expected = BigInt(closing.balances[kind] ?? '0');
      if ((running.get(kind) ?? 0n) !== expected) {
        failures.push({
          line: closing.line,
          reason: `${kind}: the opening balance plus the lines' postings is ${running.get(kind) ?? 0n}, the closing balance says ${expected}`,
        });
      }
      if (document.opening_balance?.accounts?.[kind] !== opening.balances[kind])
        failures.push({ line: opening.line, reason: `the header's opening ${kind} differs from the opening line` });
      if (document.closing_balance?.accounts?.[kind] !== closing.balances[kind])
        failures.push({ line: closing.line, reason: `the header's closing ${kind} differs from the closing line` });
    }
    for (const balance of [opening, closing]) {
      const held = BigInt(balance.balances.deposits ?? '0') + BigInt(balance.balances.settlement ?? '0');
      if (held.toString() !== balance.token_amount)
        failures.push({ line: balance.line, reason: `token_amount ${balance.token_amount} is not deposits + settlement (${held})` });
    }
    if (!failures.some((failure) => failure.line === closing.line)) notes.push('opening balance + movements = closing balance for every account');
  }

  // 5. The audit log's head is in the closing line, so the root covers it; the header repeats it.
  if (closing?.type === 'closing_balance') {
    const inLine = (closing as { audit_log_head?: unknown }).audit_log_head;
    if (inLine === undefined) failures.push({ line: closing.line, reason: 'the closing line does not record the audit log head' });
    else if (canonicalJson(inLine ?? null) !== canonicalJson(document.audit_log_head ?? null))
      failures.push({ line: closing.line, reason: "the header's audit log head differs from the closing line's" });
    else if (inLine !== null) notes.push(`the root covers the audit log head (row ${(inLine as { seq: string }).seq})`);
  }
  return { ok: failures.length === 0, failures, notes };
}

/**
 * Checks one line with its inclusion proof: the leaf hash is the line's, and the audit path
 * leads from it to the proof's root — and to `expectedRoot` (from the statement, or read off
 * the chain) when one is given.
 */
export function verifyLineProof(proof: LineProof, expectedRoot?: string): VerificationReport {
  const failures: VerificationFailure[] = [];
  const notes: string[] = [];
  if (proof?.object !== 'statement_line_proof' || !Array.isArray(proof.audit_path)) {
    return { ok: false, failures: [{ reason: 'not a ClinicPay line proof (object "statement_line_proof")' }], notes };
  }
  const line = proof.line;
  const leaf = leafHash(canonicalJson(proof.leaf));
  if (proof.leaf?.line !== line) failures.push({ line, reason: `the proof is for line ${line} but its leaf says line ${proof.leaf?.line}` });
  if (leaf.toString('hex') !== proof.leaf_hash) failures.push({ line, reason: 'leaf_hash is not the hash of the line: the line was changed' });
  const path = proof.audit_path.map((hash) => Buffer.from(String(hash), 'hex'));
  if (path.some((hash) => hash.length !== 32)) failures.push({ line, reason: 'the audit path holds something that is not a 32-byte hash' });
  const root = rootFromAuditPath(line - 1, proof.tree_size, leaf, path)?.toString('hex');
  if (root === undefined) failures.push({ line, reason: `the audit path does not fit line ${line} of a tree of ${proof.tree_size}` });
  else if (root !== proof.merkle_root) failures.push({ line, reason: `the audit path leads to ${root}, not to the proof's root ${proof.merkle_root}` });
  else notes.push(`line ${line} is included under root ${root}`);
  if (expectedRoot !== undefined && proof.merkle_root !== expectedRoot)
    failures.push({ line, reason: `the proof's root ${proof.merkle_root} is not the expected root ${expectedRoot}` });
  return { ok: failures.length === 0, failures, notes };
}

export interface LineProof {
  object: 'statement_line_proof';
  statement_id: string;
  line: number;
  leaf: StatementLine;
  leaf_hash: string;
  tree_size: number;
  audit_path: string[];
  merkle_root: string;
  anchor: StatementAnchor | null;
}

export interface ChainCheckOptions {
  chain: ChainClient;
  /** The address the auditor knows the gateway anchors from; a different sender fails. */
  anchorFrom?: string | undefined;
}

/**
 * Checks lines against the chain: every payment, forward and outflow line's log exists in
 * that transaction at that block, from the token, with those addresses and that amount; a
 * refund line's transfer exists with its amount. Entries reversed later in the same statement
 * (a reorg undid them) are not expected on the chain and are skipped, said so in the notes.
 */
export async function verifyLinesOnChain(lines: readonly StatementLine[], chainId: number, options: ChainCheckOptions): Promise<VerificationReport> {
  const failures: VerificationFailure[] = [];
  const notes: string[] = [];
  const actualChainId = await options.chain.getChainId();
  if (actualChainId !== chainId)
    return { ok: false, failures: [{ reason: `the RPC node is chain ${actualChainId}, the statement is about chain ${chainId}` }], notes };
  const reversed = new Set(
    lines
      .filter(isEntryLine)
      .map((line) => line.reverses_entry_id)
      .filter((id): id is string => id !== null),
  );
  const receipts = new Map<string, Promise<TransactionReceipt | undefined>>();
  const receiptOf = (hash: string) => {
    if (!receipts.has(hash))
      receipts.set(
        hash,
        options.chain.getTransactionReceipt({ hash: hash as Hex }).catch(() => undefined),
      );
    return receipts.get(hash)!;
  };
  let checked = 0;
  let skipped = 0;
  const entries = lines.filter(isEntryLine);
  for (let start = 0; start < entries.length; start += 20) {
    await Promise.all(
      entries.slice(start, start + 20).map(async (line) => {
        if (line.type === 'reversal' || reversed.has(line.entry_id)) {
          if (line.transfer) skipped += 1;
          return;
        }
        if (line.transfer) {
          const transfer = line.transfer;
          const receipt = await receiptOf(transfer.tx_hash);
          const problem = transferProblem(receipt, transfer.log_index, {
            token: transfer.token_address,
            from: transfer.from_address,
            to: transfer.to_address,
            amount: BigInt(transfer.amount),
            blockNumber: BigInt(transfer.block_number),
            blockHash: transfer.block_hash,
          });
          if (problem) failures.push({ line: line.line, reason: `${line.type} ${transfer.tx_hash}:${transfer.log_index}: ${problem}` });
          else checked += 1;
        } else if (line.refund_transfer) {
          const receipt = await receiptOf(line.refund_transfer.tx_hash);
          const problem = transferProblem(receipt, line.refund_transfer.log_index, { amount: BigInt(line.token_amount) });
          if (problem) failures.push({ line: line.line, reason: `refund ${line.refund_transfer.tx_hash}:${line.refund_transfer.log_index}: ${problem}` });
          else checked += 1;
        }
      }),
    );
  }
  notes.push(
    `${checked} transfer line(s) found on chain ${chainId} as stated${skipped ? `; ${skipped} reversed by a reorg in this statement, not expected on the chain` : ''}`,
  );
  return { ok: failures.length === 0, failures, notes };
}

interface ExpectedTransfer {
  token?: string;
  from?: string;
  to?: string;
  amount: bigint;
  blockNumber?: bigint;
  blockHash?: string;
}

/** What is wrong with the ERC-20 Transfer log at `logIndex` of `receipt`, or undefined when it is as expected. */
function transferProblem(receipt: TransactionReceipt | undefined, logIndex: number, expected: ExpectedTransfer): string | undefined {
  if (!receipt) return 'no such transaction on the chain';
  if (receipt.status !== 'success') return 'the transaction reverted';
  if (expected.blockNumber !== undefined && receipt.blockNumber !== expected.blockNumber)
    return `it is in block ${receipt.blockNumber}, not ${expected.blockNumber}`;
  if (expected.blockHash !== undefined && receipt.blockHash.toLowerCase() !== expected.blockHash.toLowerCase())
    return `its block hash is ${receipt.blockHash}, not ${expected.blockHash}`;
  const log = receipt.logs.find((candidate) => candidate.logIndex === logIndex);
  if (!log) return `the transaction has no log ${logIndex}`;
  let decoded: { from: string; to: string; value: bigint };
  try {
    const event = decodeEventLog({ abi: erc20Abi, data: log.data, topics: log.topics });
    if (event.eventName !== 'Transfer') return `log ${logIndex} is not a Transfer`;
    decoded = event.args as { from: string; to: string; value: bigint };
  } catch {
    return `log ${logIndex} is not an ERC-20 Transfer`;
  }
  if (expected.token !== undefined && log.address.toLowerCase() !== expected.token.toLowerCase())
    return `the log is from token ${getAddress(log.address)}, not ${expected.token}`;
  if (expected.from !== undefined && decoded.from.toLowerCase() !== expected.from.toLowerCase())
    return `the transfer is from ${decoded.from}, not ${expected.from}`;
  if (expected.to !== undefined && decoded.to.toLowerCase() !== expected.to.toLowerCase()) return `the transfer is to ${decoded.to}, not ${expected.to}`;
  if (decoded.value !== expected.amount) return `the transfer moved ${decoded.value}, not ${expected.amount}`;
  return undefined;
}

/**
 * Checks an anchor: a successful transaction in the stated block, sent by the anchoring
 * address to itself, whose data is the anchor tag and `merkleRoot`.
 */
export async function verifyAnchor(anchor: StatementAnchor, merkleRoot: string, options: ChainCheckOptions): Promise<VerificationReport> {
  const fail = (reason: string): VerificationReport => ({ ok: false, failures: [{ reason: `anchor ${anchor.tx_hash}: ${reason}` }], notes: [] });
  if (options.anchorFrom !== undefined && anchor.from_address.toLowerCase() !== options.anchorFrom.toLowerCase()) {
    return fail(`it names sender ${anchor.from_address}, not the gateway's anchoring address ${options.anchorFrom}`);
  }
  const [transaction, receipt] = await Promise.all([
    options.chain.getTransaction({ hash: anchor.tx_hash as Hex }).catch(() => undefined),
    options.chain.getTransactionReceipt({ hash: anchor.tx_hash as Hex }).catch(() => undefined),
  ]);
  if (!transaction || !receipt) return fail('no such transaction on the chain');
  if (receipt.status !== 'success') return fail('the transaction reverted');
  if (receipt.blockNumber.toString() !== anchor.block_number) return fail(`it is in block ${receipt.blockNumber}, not ${anchor.block_number}`);
  if (transaction.from.toLowerCase() !== anchor.from_address.toLowerCase()) return fail(`it was sent by ${transaction.from}, not ${anchor.from_address}`);
  if (transaction.to?.toLowerCase() !== transaction.from.toLowerCase()) return fail('it is not a transaction of the anchoring address to itself');
  if (transaction.input.toLowerCase() !== anchorCalldata(merkleRoot).toLowerCase()) return fail(`its data does not carry the root ${merkleRoot}`);
  return { ok: true, failures: [], notes: [`root anchored by ${getAddress(anchor.from_address)} in block ${anchor.block_number} (tx ${anchor.tx_hash})`] };
}

/** Everything: offline checks, and with a chain client the lines and the anchor. */
export async function verifyStatement(document: StatementDocument, options?: ChainCheckOptions): Promise<VerificationReport> {
  const reports = [verifyStatementOffline(document)];
  if (options && Array.isArray(document.lines)) {
    reports.push(await verifyLinesOnChain(document.lines, document.chain_id, options));
    if (document.anchor) reports.push(await verifyAnchor(document.anchor, document.merkle_root, options));
    else reports.push({ ok: true, failures: [], notes: ['the statement carries no anchor'] });
  } else {
    reports.push({ ok: true, failures: [], notes: ['chain checks skipped (no --rpc)'] });
  }
  return mergeReports(reports);
}

export function mergeReports(reports: readonly VerificationReport[]): VerificationReport {
  return { ok: reports.every((report) => report.ok), failures: reports.flatMap((report) => report.failures), notes: reports.flatMap((report) => report.notes) };
}
