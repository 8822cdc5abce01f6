import type { VerifyToken } from '../auth/jwt.js';
import type { Db } from '../db/knex.js';
import type { PaymentNetwork } from '../invoices/invoices.js';
import type { Logger } from '../log.js';
import type { ApiContract } from './openapi.js';

/** What the `/v1` routers are built from. */
export interface ApiDeps {
  db: Db;
  logger: Logger;
  contract: ApiContract;
  network: PaymentNetwork;
  verifyToken: VerifyToken;
}
