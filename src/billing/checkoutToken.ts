/**
 * Checkout tokens: the patient's whole credential for one invoice's hosted page — 256 random
 * bits, base64url (43 characters). Only their SHA-256 is stored: a reader of the database cannot
 * open anyone's page. They are looked up by their hash on a unique index, so an unknown token and
 * a tampered one take the same path and get the same 404.
 */
import { createHash, randomBytes } from 'node:crypto';

export const CHECKOUT_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newCheckoutToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What is stored of a token: its SHA-256, lower-case hex. */
export function checkoutTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The page's URL: absolute on `publicUrl` when the gateway knows it, else a path. */
export function checkoutUrl(token: string, publicUrl: string | undefined): string {
  return `${publicUrl ?? ''}/checkout/${token}`;
}
