/**
 * `/v1/fhir`: invoices and payments as FHIR R4 resources, for insurers and health regulators.
 */
import { Router } from 'express';
import { NotFoundError } from '../errors.js';
import type { ApiDeps } from './apiDeps.js';

export function fhirRouter({ contract }: ApiDeps): Router {
  const router = Router();
  contract.route(router, 'get', '/v1/fhir/Invoice/{id}', () => {
    throw new NotFoundError('invoice');
  });
  contract.route(router, 'get', '/v1/fhir/PaymentReconciliation/{id}', () => {
    throw new NotFoundError('payment');
  });
  return router;
}
