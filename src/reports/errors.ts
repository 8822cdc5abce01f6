/**
 * Errors of reports/.
 */
import { ClinicPayError } from '../platform/errors.js';

/** Regenerating a statement gave another root than the one it was issued with (409). */
export class StatementNotReproducibleError extends ClinicPayError {
  override name = 'StatementNotReproducibleError';
  constructor(id: string) {
    super(
      'statement_not_reproducible',
      `Statement ${id} no longer gives the root it was issued with: the ledger of its period has changed since (a deep reorg, say). Generate a new statement.`,
    );
  }
}

/** Anchoring was asked for on a gateway that does not anchor (409). */
export class AnchoringDisabledError extends ClinicPayError {
  override name = 'AnchoringDisabledError';
  constructor() {
    super('anchoring_disabled', 'Anchoring is off on this gateway (ANCHOR_STATEMENTS=false).');
  }
}

/** The ledger's balances do not add up for a statement's period: a bug or a tampered database, never a caller's mistake. */
export class StatementUnbalancedError extends Error {
  override name = 'StatementUnbalancedError';
}
