/**
 * The statement verifier for the auditor's browser (the console's statements page): the same
 * checks as `npx clinicpay verify`, from the same code, bundled with browserShims.ts in place of
 * Node's `Buffer` and `node:crypto`. The page hands it a statement file's parsed JSON and,
 * optionally, an RPC URL the auditor chose; nothing is asked of the gateway.
 *
 * It sets `ClinicPayVerifier.verify(document, rpcUrl?)` on the page's global object.
 */
import { createChainClient } from '../chain/client.js';
import type { StatementDocument } from './statementDocument.js';
import { type VerificationReport, verifyStatement } from './verifyStatement.js';

/** Offline checks always; with `rpcUrl`, every transfer line and the anchor against that node too. */
export function verify(document: unknown, rpcUrl?: string): Promise<VerificationReport> {
  const chain = rpcUrl ? createChainClient({ rpcUrl, timeoutMs: 30_000 }) : undefined;
  return verifyStatement(document as StatementDocument, chain ? { chain } : undefined);
}

(globalThis as { ClinicPayVerifier?: unknown }).ClinicPayVerifier = { verify };
