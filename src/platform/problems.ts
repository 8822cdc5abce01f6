/**
 * The error catalogue: every problem the gateway answers with, in one place. Each code is
 * part of the public API (the `code` of an RFC 9457 problem, and its `type` URI
 * `/problems/<code>`, which serves the entry below as a page), with the HTTP status it always
 * has, what happened, and what the caller can do about it.
 *
 * Domains raise their own named errors (`billing/errors.ts`, `recon/errors.ts`, …), each with
 * one of these codes; the HTTP edge maps them to problems through this table and nothing else.
 * `openapi.yaml` lists the same codes (`ProblemCode`); a test keeps the two equal.
 */

export interface ProblemKind {
  status: number;
  /** What happened, in one sentence. */
  happened: string;
  /** What the caller can do about it. */
  todo: string;
}

export const PROBLEMS = {
  invalid_request: {
    status: 400,
    happened: 'A field, query parameter or header does not fit the API contract (openapi.yaml), or its value makes no sense.',
    todo: 'Correct the field named in `param` as `detail` says, and send the request again.',
  },
  malformed_json: {
    status: 400,
    happened: 'The request body is not valid JSON.',
    todo: 'Send a JSON object encoded in UTF-8, with `Content-Type: application/json`.',
  },
  bad_request: {
    status: 400,
    happened: 'The request could not be read (its body was cut off, or it was malformed in transit).',
    todo: 'Send the request again; if it keeps failing, check what your HTTP client sends.',
  },
  range_beyond_head: {
    status: 400,
    happened: 'The reconciliation range ends beyond the chain head: those blocks do not exist yet.',
    todo: 'Ask for a range that ends at or below the current head, or leave `to_block` out.',
  },
  range_not_final: {
    status: 400,
    happened: 'The reconciliation range reaches blocks the ledger has not posted as final yet.',
    todo: 'Reconcile up to the block `detail` names, or wait for more confirmations.',
  },
  range_too_large: {
    status: 400,
    happened: 'The reconciliation range is wider than one run may cover.',
    todo: 'Split the range into several runs.',
  },
  missing_token: {
    status: 401,
    happened: 'The request has no `Authorization: Bearer` token.',
    todo: 'Send an API token in the `Authorization` header.',
  },
  invalid_token: {
    status: 401,
    happened: 'The bearer token is not valid: malformed, wrongly signed, from another issuer or audience, or with claims that do not fit its role.',
    todo: 'Ask your identity provider (or your ClinicPay operator) for a new token.',
  },
  token_expired: {
    status: 401,
    happened: 'The bearer token has expired.',
    todo: 'Get a fresh token and send the request again.',
  },
  session_expired: {
    status: 401,
    happened: 'The session cookie names no live session: it was signed out, went unused too long, reached its maximum age, or was never issued here.',
    todo: 'Sign in again at /auth/sign-in.',
  },
  csrf_failed: {
    status: 403,
    happened: 'A request made with a session cookie changes something but lacks the session’s CSRF token, or comes from a page of another origin.',
    todo: 'Send the `X-CSRF-Token` header (or the `_csrf` form field) the page was given, from a page of this gateway.',
  },
  step_up_required: {
    status: 403,
    happened:
      'This action moves money or hands out access: it needs a passkey confirmation from the last five minutes, or the operator has not allowed it by token.',
    todo: 'Confirm with your passkey (POST /auth/step-up) and send the request again; programs need the operator to set ALLOW_TOKEN_APPROVALS.',
  },
  forbidden: {
    status: 403,
    happened: "The caller's role does not allow this action.",
    todo: 'Use a token of a role that may do this (see the operation in the API reference).',
  },
  not_found: {
    status: 404,
    happened: 'There is no such object or route, or it belongs to a clinic the caller may not see.',
    todo: 'Check the id and the path. Objects of other clinics answer the same as unknown ids.',
  },
  invoice_not_voidable: {
    status: 409,
    happened: 'The invoice cannot be voided: a payment reached it, or it is already settled, expired or void.',
    todo: 'Leave it; if money must go back to the patient, finance resolves it through the exception queue.',
  },
  exception_not_open: {
    status: 409,
    happened: 'The exception already has a resolution waiting for approval, or is resolved.',
    todo: 'Look at the exception and its resolutions; propose a new one only for an open exception.',
  },
  resolution_not_pending: {
    status: 409,
    happened: 'The resolution is no longer waiting for approval.',
    todo: 'Fetch the resolution to see its status.',
  },
  settlement_address_change_pending: {
    status: 409,
    happened: "The clinic already has a settlement address change waiting for a second person's approval.",
    todo: 'Approve or cancel the waiting change (`details.pending_change_id`), then propose again if needed.',
  },
  settlement_address_change_not_pending: {
    status: 409,
    happened: 'The settlement address change was approved, cancelled or has expired already.',
    todo: 'Fetch the change to see its status; propose a new one if the address should still change.',
  },
  nothing_to_reconcile: {
    status: 409,
    happened: 'The last completed run already covered every block the watcher has confirmed.',
    todo: 'Wait for new blocks, or give an explicit `from_block` to run a range again.',
  },
  reconciliation_running: {
    status: 409,
    happened: 'A reconciliation is already running.',
    todo: 'Wait for it to finish (its progress is at `GET /v1/reconciliations/{id}`), then ask again.',
  },
  anchoring_disabled: {
    status: 409,
    happened: 'This gateway does not anchor statements on the chain (ANCHOR_STATEMENTS is off).',
    todo: 'Ask the operator to turn anchoring on, or verify the statement offline by its Merkle root.',
  },
  statement_not_reproducible: {
    status: 409,
    happened:
      'The statement no longer gives the root it was issued with: the ledger of its period has changed since (a reorg deeper than the confirmation depth, say).',
    todo: 'Generate a new statement for the period; keep the old one as what was issued then.',
  },
  body_too_large: {
    status: 413,
    happened: 'The request body is larger than the gateway accepts.',
    todo: 'Send a smaller body (the limit is in `detail`).',
  },
  unsupported_media_type: {
    status: 415,
    happened: 'The request body is not JSON.',
    todo: 'Send the body as `application/json`.',
  },
  unsupported_encoding: {
    status: 415,
    happened: 'The request body uses a character set or content encoding the gateway does not read.',
    todo: 'Send the body as UTF-8, without compression.',
  },
  idempotency_key_reused: {
    status: 422,
    happened: 'This `Idempotency-Key` was already used for a different request.',
    todo: 'Use a new key for a new request; resend the same request with the same key to get its first answer again.',
  },
  amount_exceeds_received: {
    status: 422,
    happened: 'The amount is more than the exception concerns.',
    todo: 'Give an amount up to the one on the exception, in token base units.',
  },
  refund_not_possible: {
    status: 422,
    happened: 'This exception has nothing that can be refunded: no received amount, no known payer, or tokens that never reached the clinic.',
    todo: 'Write the exception off with a reason, or resolve it outside the gateway.',
  },
  apply_not_possible: {
    status: 422,
    happened: 'This exception has no received amount that could count for another invoice.',
    todo: 'Write the exception off with a reason instead.',
  },
  invalid_target_invoice: {
    status: 422,
    happened: 'The target invoice is not another open invoice of the same clinic.',
    todo: 'Pick an open, underpaid or processing invoice of the clinic the payment belongs to.',
  },
  invalid_signature: {
    status: 422,
    happened: "The signature is not the paying address's signature of the refund authorization for this invoice and address.",
    todo: 'Have the payer sign the exact refund authorization message with the wallet that paid.',
  },
  address_screened: {
    status: 422,
    happened:
      'The address is on a screening list the gateway has loaded (a sanctions or designation list), so it will not send money to it or bind a clinic to it.',
    todo: 'Use another address. If the listing is wrong, the operator checks it against the list named in `detail`; nothing was changed.',
  },
  travel_rule_required: {
    status: 409,
    happened: "The invoice is at or above the travel-rule threshold, and the payer's information is not in yet: it shows no place to pay until it is.",
    todo: "Send the patient the invoice's checkout page: they give their information there and sign with their wallet; the deposit address appears then.",
  },
  travel_rule_captured: {
    status: 409,
    happened: "The payer's travel-rule information for this invoice is in already; it is not replaced.",
    todo: 'Pay from the wallet that signed. If it was the wrong wallet, the clinic issues a new invoice.',
  },
  headers_too_large: {
    status: 431,
    happened: 'The request line and headers together are larger than the gateway reads (16 KiB).',
    todo: 'Send a shorter URL (fewer or shorter query parameters) and fewer or smaller headers.',
  },
  rate_limited: {
    status: 429,
    happened: 'Too many requests, or too many long downloads at once, from this caller (or for the whole gateway).',
    todo: 'Wait the number of seconds in the `Retry-After` header, then send the request again.',
  },
  internal_error: {
    status: 500,
    happened: 'Something went wrong inside the gateway.',
    todo: 'Send the request again later; if it keeps failing, give the operator the `request_id`.',
  },
  sign_in_failed: {
    status: 400,
    happened: 'A sign-in could not be finished: it was not started here, took too long, or the identity provider did not confirm it.',
    todo: 'Start again from the sign-in page.',
  },
  passkey_failed: {
    status: 400,
    happened: 'The passkey could not be registered or did not verify: no challenge in progress, a wrong origin or signature, or a passkey that is not yours.',
    todo: 'Start the registration or confirmation again from the page.',
  },
  identity_provider_unavailable: {
    status: 503,
    happened: 'The identity provider people sign in with cannot be reached just now.',
    todo: 'Try again in a minute; sessions already signed in keep working.',
  },
  not_ready: {
    status: 503,
    happened: 'The gateway cannot reach its database or its chain node just now.',
    todo: 'Wait and ask again; `detail` says which dependency fails. The gateway recovers by itself.',
  },
} as const satisfies Record<string, ProblemKind>;

export type ProblemCode = keyof typeof PROBLEMS;

/** Whether `code` is in the catalogue. */
export function isProblemCode(code: string): code is ProblemCode {
  return Object.hasOwn(PROBLEMS, code);
}

/** The `type` URI of a problem code; relative, so it resolves against the gateway serving it. */
export function problemType(code: ProblemCode): string {
  return `/problems/${code}`;
}
