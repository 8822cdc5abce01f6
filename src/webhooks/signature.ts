/**
 * Webhook signatures, Stripe style: `ClinicPay-Signature: t=<unix seconds>,v1=<hex>`, where the
 * hex is HMAC-SHA256 of `"<t>.<raw body>"` keyed with the clinic's webhook secret. The timestamp
 * is signed with the body, so a receiver that rejects stale timestamps also rejects replays of
 * an old request.
 *
 * The gateway signs with {@link signWebhookPayload}; receivers (and our tests) check with
 * {@link verifyWebhookSignature}.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_SIGNATURE_HEADER = 'ClinicPay-Signature';
/** How far a receiver lets the signed timestamp stray from its own clock, by default. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;
/** Longer headers are refused unread: a few signatures fit in far less. */
const MAX_HEADER_LENGTH = 4096;
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const UNIX_SECONDS = /^\d{1,12}$/;

export interface SignWebhookPayloadParameters {
  /**
   * The clinic's webhook secret (`whsec_…`), used as is as the HMAC key; or several (during a
   * rotation's overlap: the new one first), each giving a `v1` of its own.
   */
  secret: string | readonly string[];
  /** When the request is signed, in whole unix seconds. */
  timestamp: number;
  /** The exact bytes sent as the request body. */
  rawBody: string | Uint8Array;
}

/**
 * The `ClinicPay-Signature` header value for one request.
 *
 * @example
 * signWebhookPayload({ secret: clinic.webhook_secret, timestamp: Math.floor(Date.now() / 1000), rawBody })
 * // → 't=1764201600,v1=5f1c…'
 */
export function signWebhookPayload({ secret, timestamp, rawBody }: SignWebhookPayloadParameters): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError(`A webhook timestamp is whole unix seconds, not ${timestamp}.`);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0 || secrets.some((one) => one.length === 0)) throw new RangeError('A webhook secret must not be empty.');
  return [`t=${timestamp}`, ...secrets.map((one) => `v1=${hmacHex(one, timestamp, rawBody)}`)].join(',');
}

export interface VerifyWebhookSignatureParameters {
  /** The received `ClinicPay-Signature` header (undefined when it was missing). */
  header: string | undefined;
  /** The request body exactly as received, before any JSON parsing. */
  rawBody: string | Uint8Array;
  secret: string;
  /** How far the signed timestamp may be from `now`, either way. Default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock. Default: the current time. */
  now?: Date;
}

export type WebhookSignatureFailure = 'missing_header' | 'malformed_header' | 'timestamp_outside_tolerance' | 'no_matching_signature';

export type VerifyWebhookSignatureReturnType =
  | { valid: true /** The signed timestamp, unix seconds. */; timestamp: number }
  | { valid: false; reason: WebhookSignatureFailure };

/**
 * Checks a received webhook: the header must carry one `t` and at least one `v1` (several are
 * accepted, e.g. while a secret is being rotated), `t` must be within `toleranceSeconds` of
 * `now` (stale and future timestamps alike are refused), and one `v1` must equal the HMAC of
 * `"<t>.<raw body>"` under `secret`, compared in constant time. Unknown schemes (`v0=…`) are
 * ignored.
 *
 * @example
 * const check = verifyWebhookSignature({ header: req.get('ClinicPay-Signature'), rawBody, secret });
 * if (!check.valid) return res.status(400).end();
 */
export function verifyWebhookSignature({
  header,
  rawBody,
  secret,
  toleranceSeconds = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  now = new Date(),
}: VerifyWebhookSignatureParameters): VerifyWebhookSignatureReturnType {
  if (header === undefined || header.trim() === '') return { valid: false, reason: 'missing_header' };
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { valid: false, reason: 'malformed_header' };

  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (Math.abs(nowSeconds - parsed.timestamp) > toleranceSeconds) return { valid: false, reason: 'timestamp_outside_tolerance' };

  const expected = Buffer.from(hmacHex(secret, parsed.timestamp, rawBody), 'latin1');
  let matched = false;
  // Every candidate is compared, so the time taken does not tell which one (if any) matched.
  for (const candidate of parsed.signatures) {
    if (timingSafeEqual(expected, Buffer.from(candidate, 'latin1'))) matched = true;
  }
  return matched ? { valid: true, timestamp: parsed.timestamp } : { valid: false, reason: 'no_matching_signature' };
}

interface ParsedSignatureHeader {
  timestamp: number;
  /** Lower-case hex, each 64 digits. */
  signatures: string[];
}

/** `t=…,v1=…[,v1=…]` → its parts, or `undefined` when it is not that shape. */
function parseSignatureHeader(header: string): ParsedSignatureHeader | undefined {
  if (header.length > MAX_HEADER_LENGTH) return undefined;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator <= 0) return undefined;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !UNIX_SECONDS.test(value)) return undefined;
      timestamp = Number(value);
    } else if (key === 'v1') {
      const hex = value.toLowerCase();
      if (!HEX_SIGNATURE.test(hex)) return undefined;
      signatures.push(hex);
    }
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestamp, signatures };
}

function hmacHex(secret: string, timestamp: number, rawBody: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(rawBody).digest('hex');
}
