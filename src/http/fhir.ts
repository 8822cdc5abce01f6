/**
 * `/v1/fhir`: invoices and payments as FHIR R4 resources, for insurers and health regulators.
 * Any role may read what it may see (a clinic's own records for clinic roles); anything else
 * is a 404. Errors stay RFC 9457 problems, like the rest of the API.
 */
import { type Response, Router } from 'express';
import { type FhirResource, fhirJson } from '../reports/fhir.js';
import { loadFhirInvoice, loadFhirPaymentReconciliation } from '../reports/fhirResources.js';
import type { ApiDeps } from './apiDeps.js';
import { scopeOf } from './scope.js';

export function fhirRouter({ db, contract, network }: ApiDeps): Router {
  const router = Router();
  contract.route(router, 'get', '/v1/fhir/Invoice/{id}', async (req, res) => {
    sendFhir(res, await loadFhirInvoice(db, scopeOf(res), req.params.id as string));
  });
  contract.route(router, 'get', '/v1/fhir/PaymentReconciliation/{id}', async (req, res) => {
    sendFhir(res, await loadFhirPaymentReconciliation(db, scopeOf(res), req.params.id as string, { chainId: network.chainId }));
  });
  return router;
}

/** Sends a resource as `application/fhir+json`, amounts written with their exact decimals. */
function sendFhir(res: Response, resource: FhirResource): void {
  res.status(200).type('application/fhir+json').send(fhirJson(resource));
}
