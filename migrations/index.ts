/**
 * Every schema migration, oldest first. Append; never edit one that has shipped.
 */
import * as foundation from './20261127_0001_foundation.js';
import * as invoicing from './20261127_0002_invoicing.js';
import * as settlement from './20261127_0003_settlement.js';
import * as reconciliation from './20261127_0004_reconciliation.js';
import * as audit from './20261127_0005_audit.js';
import * as checkout from './20261127_0006_checkout.js';
import * as checkoutTokenHash from './20261203_0007_checkout_token_hash.js';
import * as webhookSecrets from './20261203_0008_webhook_secrets.js';
import * as rateLimits from './20261203_0009_rate_limits.js';
import * as tokenRevocations from './20261203_0010_token_revocations.js';
import * as settlementAddressChanges from './20261203_0011_settlement_address_changes.js';
import * as leastPrivilege from './20261203_0012_least_privilege.js';
import * as relayerTransactions from './20261203_0013_relayer_transactions.js';
import * as apiKeys from './20261203_0014_api_keys.js';
import * as signIn from './20261203_0015_sign_in.js';
import * as priceList from './20261203_0016_price_list.js';
import * as screeningLists from './20261203_0017_screening_lists.js';
import * as paymentHolds from './20261203_0018_payment_holds.js';
import * as acceptedTokens from './20261203_0019_accepted_tokens.js';
import * as paymentScreenings from './20261203_0020_payment_screenings.js';
import * as addressFreezes from './20261203_0021_address_freezes.js';
import * as sanctionsOracle from './20261203_0022_sanctions_oracle.js';
import * as travelRule from './20261203_0023_travel_rule.js';
import * as auditChainer from './20261204_0024_audit_chainer.js';
import * as balanceCheckpoints from './20261204_0025_balance_checkpoints.js';
import * as reconciliationSweeps from './20261204_0026_reconciliation_sweeps.js';
import * as statementIndexes from './20261204_0027_statement_indexes.js';
import * as verifiedCursor from './20261205_0028_verified_cursor.js';
import * as transferGenerations from './20261205_0029_transfer_generations.js';
import * as refundBlocks from './20261205_0030_refund_blocks.js';

export interface Migration {
  name: string;
  up(knex: import('knex').Knex): Promise<void>;
  down(knex: import('knex').Knex): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  { name: '20261127_0001_foundation', ...foundation },
  { name: '20261127_0002_invoicing', ...invoicing },
  { name: '20261127_0003_settlement', ...settlement },
  { name: '20261127_0004_reconciliation', ...reconciliation },
  { name: '20261127_0005_audit', ...audit },
  { name: '20261127_0006_checkout', ...checkout },
  { name: '20261203_0007_checkout_token_hash', ...checkoutTokenHash },
  { name: '20261203_0008_webhook_secrets', ...webhookSecrets },
  { name: '20261203_0009_rate_limits', ...rateLimits },
  { name: '20261203_0010_token_revocations', ...tokenRevocations },
  { name: '20261203_0011_settlement_address_changes', ...settlementAddressChanges },
  { name: '20261203_0012_least_privilege', ...leastPrivilege },
  { name: '20261203_0013_relayer_transactions', ...relayerTransactions },
  { name: '20261203_0014_api_keys', ...apiKeys },
  { name: '20261203_0015_sign_in', ...signIn },
  { name: '20261203_0016_price_list', ...priceList },
  { name: '20261203_0017_screening_lists', ...screeningLists },
  { name: '20261203_0018_payment_holds', ...paymentHolds },
  { name: '20261203_0019_accepted_tokens', ...acceptedTokens },
  { name: '20261203_0020_payment_screenings', ...paymentScreenings },
  { name: '20261203_0021_address_freezes', ...addressFreezes },
  { name: '20261203_0022_sanctions_oracle', ...sanctionsOracle },
  { name: '20261203_0023_travel_rule', ...travelRule },
  { name: '20261204_0024_audit_chainer', ...auditChainer },
  { name: '20261204_0025_balance_checkpoints', ...balanceCheckpoints },
  { name: '20261204_0026_reconciliation_sweeps', ...reconciliationSweeps },
  { name: '20261204_0027_statement_indexes', ...statementIndexes },
  { name: '20261205_0028_verified_cursor', ...verifiedCursor },
  { name: '20261205_0029_transfer_generations', ...transferGenerations },
  { name: '20261205_0030_refund_blocks', ...refundBlocks },
];
