/**
 * After settling: each clinic's statement of the whole run, asked for as an auditor asks for it
 * (`GET /v1/statements`, JSON, from the gateway's own app) and read as the bytes a client
 * downloads, must pass the auditor's verifier as `npx clinicpay verify --rpc` runs it: offline,
 * the Merkle root, the numbering and opening + movements = closing; against the node, every
 * payment, forward and outflow line in the transaction, block and log it names, and the anchor
 * when the statement has one. Nobody asks the run's gateway to anchor, so none has: the chain
 * check is of the lines.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.js';
import { createJwtVerifier, signHs256Token } from '../src/identity/jwt.js';
import { createLogger } from '../src/platform/log.js';
import { createMetrics } from '../src/platform/metrics.js';
import { OPENAPI_PATH } from '../src/platform/paths.js';
import { SecretBox } from '../src/platform/secretBox.js';
import type { StatementDocument } from '../src/reports/statementDocument.js';
import { verifyStatement } from '../src/reports/verifyStatement.js';
import type { InvariantContext } from './invariants.js';

/** Who asks: an auditor, whom no clinic confines. */
const AUDITOR = { role: 'auditor', sub: 'simulator-auditor' } as const;
/** Failures named in one violation; the rest are counted. */
const FAILURES_SHOWN = 3;

/** Each clinic whose statement of the run does not verify, or could not be had, as a sentence. */
export async function statementViolations({ db, direct, network, confirmations }: InvariantContext): Promise<string[]> {
  const jwt = { secret: randomBytes(32).toString('hex'), issuer: 'clinicpay-simulator', audience: 'clinicpay-api' };
  const app = createApp({
    db,
    chain: direct,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    openapiYaml: fs.readFileSync(OPENAPI_PATH, 'utf8'),
    bodyLimitBytes: 100 * 1024,
    readinessTimeoutMs: 2000,
    network,
    verifyToken: createJwtVerifier({ algorithm: 'HS256', key: jwt.secret, issuer: jwt.issuer, audience: jwt.audience }),
    finality: { confirmations, useFinalizedTag: false, maxBlockRange: 2000n },
    secrets: new SecretBox([{ id: 'statements', key: randomBytes(32) }]),
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const authorization = `Bearer ${signHs256Token({ ...jwt, ...AUDITOR, ttlSeconds: 600 })}`;
  const violations: string[] = [];
  try {
    const clinics = (await db('clinics').orderBy('id').select('id', 'created_at')) as { id: string; created_at: Date }[];
    for (const clinic of clinics) {
      // From the clinic's creation, the run's first act, to now.
      const query = new URLSearchParams({ clinic_id: clinic.id, from: clinic.created_at.toISOString(), to: new Date().toISOString(), format: 'json' });
      let text: string;
      try {
        const response = await fetch(`http://127.0.0.1:${port}/v1/statements?${query}`, { headers: { authorization } });
        text = await response.text();
        if (response.status !== 200) {
          violations.push(`clinic ${clinic.id}: the gateway answered ${response.status} to its statement of the run: ${text.slice(0, 300)}`);
          continue;
        }
      } catch (error) {
        // A statement that fails after its first byte is cut off, not finished.
        violations.push(`clinic ${clinic.id}: its statement of the run could not be downloaded: ${(error as Error).message}`);
        continue;
      }
      let document: StatementDocument;
      try {
        document = JSON.parse(text) as StatementDocument;
      } catch (error) {
        violations.push(`clinic ${clinic.id}: its statement of the run is not JSON (cut off?): ${(error as Error).message}`);
        continue;
      }
      const report = await verifyStatement(document, { chain: direct });
      if (!report.ok) {
        const shown = report.failures
          .slice(0, FAILURES_SHOWN)
          .map((failure) => `${failure.line === undefined ? '' : `line ${failure.line}: `}${failure.reason}`);
        const more = report.failures.length - shown.length;
        violations.push(`clinic ${clinic.id}: statement ${document.id} does not verify: ${shown.join('; ')}${more > 0 ? ` (and ${more} more)` : ''}`);
      }
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return violations;
}
