import type { VerifyToken } from '../identity/jwt.js';
import type { ReferenceRates } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { PaymentNetwork } from '../billing/invoices.js';
import type { Logger } from '../platform/log.js';
import type { ApiContract } from './openapi.js';

/** What the `/v1` routers are built from. */
export interface ApiDeps {
  db: Db;
  logger: Logger;
  contract: ApiContract;
  network: PaymentNetwork;
  verifyToken: VerifyToken;
  /** The patient-facing side: where checkout pages live, indicative rates, the explorer for receipts. */
  checkout: CheckoutSettings;
}

export interface CheckoutSettings {
  publicUrl?: string | undefined;
  referenceRates?: ReferenceRates | undefined;
  explorerTxUrl?: string | undefined;
  /** Confirmations a payment needs, shown to the patient as "n of m". */
  confirmations: number;
}
