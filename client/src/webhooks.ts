/**
 * Checking that a webhook came from the gateway, before anything in it is believed.
 *
 * The gateway signs each delivery `ClinicPay-Signature: t=<unix seconds>,v1=<hex>`, where the hex
 * is HMAC-SHA256, keyed with the clinic's webhook secret, of `<t>.<raw body>`. While a rotated
 * secret overlaps the new one, the header carries one `v1` per secret. {@link constructEvent}
 * accepts a delivery when any `v1` is the HMAC under any secret it is given, and its timestamp is
 * within the tolerance of now (either side: a replay of an old delivery is refused).
 *
 * It uses the platform's Web Crypto, so it runs wherever `fetch` does, and is therefore async.
 * The HMAC is computed once per secret and compared with each `v1` byte by byte to the end,
 * so the time taken says nothing about how much of a forged signature was right.
 */
import type { Invoice, PatientRef, SettlementAddressChange, WebhookEventType, WebhookPayload } from './api.js';
import { WebhookSignatureError } from './errors.js';

export const SIGNATURE_HEADER = 'ClinicPay-Signature';
/** Five minutes, either side of now. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** An invoice as webhooks carry it: no `checkout_url`, line items without their descriptions (health data stays in the gateway), the patient's reference only where the clinic asked for it. */
export type WebhookInvoice = Omit<Invoice, 'checkout_url' | 'line_items' | 'patient_ref'> & {
  /** Only for clinics that set `webhook_include_patient_ref`. */
  patient_ref?: PatientRef;
  line_items: { quantity: number; unit_amount: string }[];
  /** payment.late, payment.void_invoice, payment.reorged, payment.held, invoice.overpaid: the payment the event is about. */
  payment?: { tx_hash: string; amount: string; token?: string; excess?: string };
  /** settlement.forwarded: what was forwarded to the clinic's wallet. */
  forwarding?: { tx_hash: string; amount: string };
  /** payment.held: why the payment is held and on which screening lists its payer is. */
  hold?: { id: string; reason: string; lists: string[] };
};

type SettlementAddressEventType = Extract<WebhookEventType, `clinic.${string}`>;

/** One delivered event: `data` is a settlement-address change for `clinic.*` events, an invoice for every other. */
export type ClinicPayEvent = {
  [Type in WebhookEventType]: Omit<WebhookPayload, 'type' | 'data'> & {
    type: Type;
    data: Type extends SettlementAddressEventType ? SettlementAddressChange : WebhookInvoice;
  };
}[WebhookEventType];

export interface ConstructEventOptions {
  /** How far the signature's timestamp may be from now, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Now, in unix seconds (for tests). */
  now?: number;
}

/**
 * The event of a delivery, once its signature checks out; otherwise a {@link WebhookSignatureError}
 * saying why (`reason`), and no event.
 *
 * @param rawBody the request body exactly as received (a string or bytes), never re-serialised JSON.
 * @param signatureHeader the `ClinicPay-Signature` header.
 * @param secret the clinic's webhook secret; during a rotation, the old and the new.
 * @example
 * app.post('/clinicpay/webhooks', express.raw({ type: 'application/json' }), async (req, res) => {
 *   const event = await ClinicPay.webhooks.constructEvent(req.body, req.get('ClinicPay-Signature'), secret);
 *   …
 * });
 */
export async function constructEvent(
  rawBody: string | Uint8Array,
  signatureHeader: string | readonly string[] | null | undefined,
  secret: string | readonly string[],
  options: ConstructEventOptions = {},
): Promise<ClinicPayEvent> {
  if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
    throw new TypeError('constructEvent needs the raw request body (a string or bytes): parse it after checking it, never before');
  }
  const secrets = (typeof secret === 'string' ? [secret] : [...secret]).filter((one) => typeof one === 'string' && one !== '');
  if (secrets.length === 0) throw new TypeError('constructEvent needs the webhook secret');
  const header = Array.isArray(signatureHeader) ? signatureHeader.join(',') : (signatureHeader as string | null | undefined);
  if (header === undefined || header === null || header.trim() === '') throw new WebhookSignatureError('missing_header', `No ${SIGNATURE_HEADER} header`);

  const parsed = parseSignatureHeader(header);
  if (!parsed) throw new WebhookSignatureError('malformed_header', `${SIGNATURE_HEADER} is not t=<seconds>,v1=<64 hex digits>`);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - parsed.timestamp) > tolerance) {
    throw new WebhookSignatureError(
      'timestamp_outside_tolerance',
      `The signature's timestamp is ${now - parsed.timestamp} s from now; at most ${tolerance} s is accepted`,
    );
  }

  const bytes = bytesOf(rawBody);
  let matched = false;
  for (const one of secrets) {
    const expected = await signatureOf(one, parsed.timestamp, bytes);
    for (const signature of parsed.signatures) if (equalInConstantTime(expected, signature)) matched = true;
  }
  if (!matched) throw new WebhookSignatureError('no_matching_signature', 'No signature matches the body under the given secret');

  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new WebhookSignatureError('malformed_body', 'The signed body is not JSON');
  }
  if (!isEvent(event)) throw new WebhookSignatureError('malformed_body', 'The signed body is not an event: {id, type, created, data}');
  return event;
}

/** A `ClinicPay-Signature` value for `rawBody`, as the gateway writes it: for a receiver's own tests. */
export async function signPayload(rawBody: string | Uint8Array, secret: string, timestamp = Math.floor(Date.now() / 1000)): Promise<string> {
  const mac = await signatureOf(secret, timestamp, bytesOf(rawBody));
  return `t=${timestamp},v1=${[...mac].map((byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

function bytesOf(rawBody: string | Uint8Array): Uint8Array {
  return typeof rawBody === 'string' ? new TextEncoder().encode(rawBody) : rawBody;
}

/** The `v1` signature's bytes: HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`. */
async function signatureOf(secret: string, timestamp: number, body: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', await hmacKey(secret), concat(new TextEncoder().encode(`${timestamp}.`), body)));
}

/** Imported HMAC keys by secret: importing costs about as much as the HMAC itself. A receiver has one or two secrets. */
type HmacKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;
const keys = new Map<string, Promise<HmacKey>>();
const MAX_KEYS = 8;

function hmacKey(secret: string): Promise<HmacKey> {
  let key = keys.get(secret);
  if (!key) {
    key = globalThis.crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value as string);
    keys.set(secret, key);
  }
  return key;
}

/** Whether two MACs are equal, looking at every byte whatever the first difference: how long it takes says nothing about where they differ. */
function equalInConstantTime(expected: Uint8Array, received: Uint8Array): boolean {
  if (expected.length !== received.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= (expected[i] as number) ^ (received[i] as number);
  return difference === 0;
}

/** `t=…,v1=…[,v1=…]`; other schemes are ignored, so the gateway can add one later. */
function parseSignatureHeader(header: string): { timestamp: number; signatures: Uint8Array<ArrayBuffer>[] } | undefined {
  let timestamp: number | undefined;
  const signatures: Uint8Array<ArrayBuffer>[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 1) return undefined;
    const name = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (name === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (name === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return undefined;
      signatures.push(Uint8Array.from(value.match(/../g) as string[], (pair) => Number.parseInt(pair, 16)));
    }
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestamp, signatures };
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first, 0);
  joined.set(second, first.length);
  return joined;
}

function isEvent(value: unknown): value is ClinicPayEvent {
  if (!value || typeof value !== 'object') return false;
  const event = value as Record<string, unknown>;
  return typeof event.id === 'string' && typeof event.type === 'string' && typeof event.created === 'number' && !!event.data && typeof event.data === 'object';
}
