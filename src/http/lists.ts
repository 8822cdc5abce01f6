/**
 * List endpoints, all alike: Stripe's `{ object: 'list', url, data, has_more }`, cursor pages
 * (`limit`, `starting_after`, `ending_before`), confined to the caller's clinic and narrowed by
 * `clinic_id` (http/scope.ts). Every list endpoint is one {@link listHandler}.
 */
import type { RequestHandler } from 'express';
import type { ClinicScope } from '../identity/principal.js';
import { type Page, type PageRequest, pageRequestFrom } from '../platform/pagination.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';
import { listScopeOf } from './scope.js';

export interface ListSpec<Row> {
  /** The path the list answers at, as its `url`. */
  url: string;
  /** One page of rows in `scope`, with the request's other (validated) query parameters as filters. */
  fetch(scope: ClinicScope, query: Record<string, unknown>, page: PageRequest): Promise<Page<Row>>;
  /** The API form of a page's rows. */
  present(rows: Row[]): unknown[] | Promise<unknown[]>;
}

/** The handler of a list endpoint (after the contract's validator and any role check). */
export function listHandler<Row>(spec: ListSpec<Row>): RequestHandler {
  return async (_req, res) => {
    const query = validatedQuery(res);
    const scope = listScopeOf(res, query.clinic_id as string | undefined);
    const page = scope === undefined ? { data: [], hasMore: false } : await spec.fetch(scope, query, pageRequestFrom(query));
    sendJson(res, 200, { object: 'list', url: spec.url, data: await spec.present(page.data), has_more: page.hasMore });
  };
}
