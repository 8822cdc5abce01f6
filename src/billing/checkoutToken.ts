/**
 * Checkout tokens: the patient's whole credential for one invoice's hosted page — 256 random
 * bits, base64url (43 characters). They are looked up by equality on a unique index, so an
 * unknown token and a tampered one take the same path and get the same 404.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../platform/db.js';
import type { InvoiceRow } from './invoices.js';

export const CHECKOUT_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newCheckoutToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The page's URL: absolute on `publicUrl` when the gateway knows it, else a path. */
export function checkoutUrl(token: string, publicUrl: string | undefined): string {
  return `${publicUrl ?? ''}/checkout/${token}`;
}

/** Tokens longer than this are not looked up (nothing real is that long). */
const MAX_TOKEN_LENGTH = 128;

/**
 * The invoice whose checkout token is `token`, with its clinic's name, or `undefined`. Every
 * token that is not an invoice's (unknown, tampered, malformed) takes the same path: one
 * indexed lookup, then no answer.
 */
export async function invoiceByCheckoutToken(db: Db, token: string): Promise<(InvoiceRow & { clinic_name: string }) | undefined> {
  const lookup = token.length <= MAX_TOKEN_LENGTH ? token : '';
  const row = (await db('invoices')
    .join('clinics', 'clinics.id', 'invoices.clinic_id')
    .where('invoices.checkout_token', lookup)
    .first('invoices.*', 'clinics.name AS clinic_name')) as (InvoiceRow & { clinic_name: string }) | undefined;
  return row && CHECKOUT_TOKEN_PATTERN.test(token) ? row : undefined;
}
