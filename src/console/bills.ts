/**
 * The front desk's pages: a new bill, today's bills, one bill, and the counter screen turned
 * towards the patient. Pages only show; bills are created and voided through the API (`/v1`),
 * by the page's script with the session's CSRF token and an idempotency key per form, so the
 * console has no second path to the data.
 */

import type { PayingView } from '../checkout/checkoutView.js';
import type { CheckoutLanguage } from '../checkout/messages.js';
import { formatMoney, formatTime } from '../checkout/pages.js';
import type { InvoiceStatus } from '../domain/invoiceStatus.js';
import { escapeHtml } from '../platform/html.js';
import { type ConsoleMessageKey, consoleMessage, scriptMessages } from './messages.js';
import { type StaffPerson, staffPage, t } from './pages.js';

const STATUSES: readonly InvoiceStatus[] = ['open', 'processing', 'underpaid', 'paid', 'overpaid', 'expired', 'void'];

/** The status as words and a mark, never colour alone. */
function statusBadge(language: CheckoutLanguage, status: InvoiceStatus): string {
  return `<span class="badge badge-${status}">${t(language, `st_${status}` as ConsoleMessageKey)}</span>`;
}

const SCRIPTS = ['/console/assets/bills.js'];

/** The gateway's indicative rates (units of each currency per 1 HKD), for the form's total. */
export interface IndicativeRates {
  rates: Readonly<Record<string, string>>;
  source: string;
  asOf: Date;
}

/** An item of the clinic's price list, as the form offers it. */
export interface PriceChoice {
  id: string;
  code: string;
  name: string;
  unit_amount: string;
}

/**
 * The new-bill form; `idempotencyKey` makes a double submit one bill. Each line can take an item
 * of the clinic's price list (which fills its description and price) or free text.
 */
export function renderNewBillPage(
  language: CheckoutLanguage,
  person: StaffPerson,
  idempotencyKey: string,
  priceList: readonly PriceChoice[],
  rates: IndicativeRates | undefined,
): string {
  const picker =
    priceList.length === 0
      ? ''
      : `<label>${t(language, 'from_price_list')} <select name="price_item"><option value="">${t(language, 'free_text')}</option>${priceList
          .map(
            (item) =>
              `<option value="${escapeHtml(item.id)}" data-name="${escapeHtml(`${item.code} ${item.name}`)}" data-amount="${escapeHtml(item.unit_amount)}">${escapeHtml(`${item.code} — ${item.name} (${formatMoney(item.unit_amount, 'HKD', language)})`)}</option>`,
          )
          .join('')}</select></label>`;
  const line = (index: number) => `<fieldset class="line" data-line="${index}">
<legend class="visually-hidden">${t(language, 'line_items')} ${index + 1}</legend>
${picker}
<label>${t(language, 'description')} <input name="description" required maxlength="200" autocomplete="off"></label>
<label>${t(language, 'quantity')} <input name="quantity" type="number" inputmode="numeric" min="1" max="1000" step="1" value="1" required></label>
<label>${t(language, 'unit_amount')} <input name="unit_amount" inputmode="decimal" pattern="^\\d{1,9}(\\.\\d{1,2})?$" required autocomplete="off"></label>
<button type="button" class="link remove-line">${t(language, 'remove_line')}</button>
</fieldset>`;
  const body = `<main id="new-bill">
<h1>${t(language, 'new_bill_title')}</h1>
<form id="bill-form" data-idempotency-key="${escapeHtml(idempotencyKey)}" novalidate>
<p class="form-error" id="form-error" role="alert" hidden></p>
<label for="patient_ref">${t(language, 'patient_ref')}</label>
<input id="patient_ref" name="patient_ref" required maxlength="64" autocomplete="off" aria-describedby="patient_ref-hint patient_ref-error">
<p class="hint" id="patient_ref-hint">${t(language, 'patient_ref_hint')}</p>
<p class="field-error" id="patient_ref-error" hidden></p>
<h2>${t(language, 'line_items')}</h2>
<div id="lines">${line(0)}</div>
<p class="field-error" id="line_items-error" hidden></p>
<p><button type="button" class="button secondary" id="add-line">${t(language, 'add_line')}</button></p>
<label for="note">${t(language, 'notes')}</label>
<textarea id="note" name="note" maxlength="500" rows="2" aria-describedby="note-hint note-error"></textarea>
<p class="hint" id="note-hint">${t(language, 'notes_hint')}</p>
<p class="field-error" id="note-error" hidden></p>
<p class="total">${t(language, 'total')}: <output id="total" data-currency="HKD">${escapeHtml(formatMoney('0', 'HKD', language))}</output></p>
${rates ? `<p class="hint" id="indicative" aria-live="polite"></p>` : ''}
<p><button type="submit" class="button" id="create-bill">${t(language, 'create_bill')}</button></p>
<noscript><p>${t(language, 'needs_script_form')}</p></noscript>
</form>
<template id="line-template">${line(0)}</template>
</main>`;
  return staffPage({
    language,
    person,
    title: consoleMessage(language, 'new_bill_title'),
    body,
    path: '/console/bills/new',
    scripts: SCRIPTS,
    data: {
      csrf_token: person.csrfToken,
      messages: scriptMessages(language),
      locale: language,
      rates: rates ? { rates: rates.rates, source: rates.source, as_of: formatTime(rates.asOf, language) } : null,
    },
  });
}

export interface BillRow {
  id: string;
  number: number;
  patient_ref: string;
  status: InvoiceStatus;
  amount_due: string;
  currency: string;
  created_at: Date;
}

/** Today's bills (Hong Kong day), with search and a status filter. */
export function renderBillsPage(language: CheckoutLanguage, person: StaffPerson, bills: readonly BillRow[], filters: { q: string; status: string }): string {
  const options = [`<option value="">${t(language, 'any_status')}</option>`]
    .concat(
      STATUSES.map(
        (status) => `<option value="${status}"${filters.status === status ? ' selected' : ''}>${t(language, `st_${status}` as ConsoleMessageKey)}</option>`,
      ),
    )
    .join('');
  const rows = bills
    .map(
      (bill) => `<tr data-bill="${escapeHtml(bill.id)}">
<th scope="row"><a href="/console/bills/${escapeHtml(bill.id)}">${t(language, 'bill_number', { number: bill.number })}</a></th>
<td>${escapeHtml(bill.patient_ref)}</td>
<td class="num">${escapeHtml(formatMoney(bill.amount_due, bill.currency, language))}</td>
<td>${statusBadge(language, bill.status)}</td>
<td>${escapeHtml(formatTime(bill.created_at, language))}</td>
</tr>`,
    )
    .join('');
  const body = `<main id="bills">
<h1>${t(language, 'bills_title')}</h1>
<form method="get" action="/console/bills" class="filters" role="search">
<label>${t(language, 'search')} <input name="q" value="${escapeHtml(filters.q)}" maxlength="64"></label>
<label>${t(language, 'status_filter')} <select name="status">${options}</select></label>
<input type="hidden" name="lang" value="${language}">
<button type="submit" class="button secondary">${t(language, 'apply_filters')}</button>
</form>
${
  bills.length === 0
    ? `<p id="no-bills">${t(language, 'no_bills')}</p>`
    : `<table id="bill-list"><thead><tr><th scope="col">#</th><th scope="col">${t(language, 'patient_ref')}</th><th scope="col" class="num">${t(language, 'amount')}</th><th scope="col">${t(language, 'status')}</th><th scope="col">${t(language, 'created')}</th></tr></thead><tbody>${rows}</tbody></table>`
}
</main>`;
  return staffPage({ language, person, title: consoleMessage(language, 'bills_title'), body, path: '/console/bills' });
}

export interface BillDetail extends BillRow {
  /** Whether the patient can still pay (a checkout link is worth giving). */
  payable: boolean;
  /** The bill's note for the receipt (`metadata.note`), if any. */
  note: string | null;
  /** Paid (in full or more): the link section gives the patient's receipt instead. */
  paid: boolean;
  payments: { txHash: string; amount: string; confirmations: number; final: boolean; url: string | null }[];
  timeline: { at: Date; action: string; actor: string }[];
  voidable: boolean;
  /** Above the travel-rule threshold: whether the payer's details are in (never what they are). */
  travelRule: 'not_required' | 'pending' | 'captured';
}

/** One bill: amounts, payments with their transactions, what happened, and what can be done. */
export function renderBillPage(language: CheckoutLanguage, person: StaffPerson, bill: BillDetail): string {
  const payments =
    bill.payments.length === 0
      ? `<p>${t(language, 'no_payments')}</p>`
      : `<ul class="payments">${bill.payments
          .map(
            (payment) =>
              `<li><code class="hash">${payment.url ? `<a href="${escapeHtml(payment.url)}" rel="noreferrer">${escapeHtml(payment.txHash)}</a>` : escapeHtml(payment.txHash)}</code> ${escapeHtml(payment.amount)} <small>(${payment.confirmations})</small></li>`,
          )
          .join('')}</ul>`;
  const timeline = bill.timeline
    .map(
      (event) =>
        `<li><time datetime="${event.at.toISOString()}">${escapeHtml(formatTime(event.at, language))}</time> <code>${escapeHtml(event.action)}</code> <small>${escapeHtml(event.actor)}</small></li>`,
    )
    .join('');
  const body = `<main id="bill" data-bill="${escapeHtml(bill.id)}" data-status="${bill.status}">
<h1>${t(language, 'bill_number', { number: bill.number })}</h1>
<dl class="facts">
<dt>${t(language, 'patient_ref')}</dt><dd>${escapeHtml(bill.patient_ref)}</dd>
<dt>${t(language, 'amount')}</dt><dd>${escapeHtml(formatMoney(bill.amount_due, bill.currency, language))}</dd>
<dt>${t(language, 'status')}</dt><dd id="bill-status">${statusBadge(language, bill.status)}</dd>
<dt>${t(language, 'created')}</dt><dd>${escapeHtml(formatTime(bill.created_at, language))}</dd>
${bill.note ? `<dt>${t(language, 'notes')}</dt><dd id="bill-note">${escapeHtml(bill.note)}</dd>` : ''}
${bill.travelRule === 'not_required' ? '' : `<dt>${t(language, 'travel_rule')}</dt><dd id="bill-travel-rule">${t(language, bill.travelRule === 'pending' ? 'travel_rule_pending' : 'travel_rule_captured')}</dd>`}
</dl>
<p class="actions"><a class="button" id="counter-mode" href="/console/bills/${escapeHtml(bill.id)}/counter">${t(language, 'counter_mode')}</a>
${bill.voidable ? `<button type="button" class="button secondary" id="void-bill">${t(language, 'void_bill')}</button>` : ''}</p>
<p id="bill-message" role="status" aria-live="polite"></p>
${
  bill.payable || bill.paid
    ? `<section aria-labelledby="link-title"><h2 id="link-title">${t(language, bill.paid ? 'receipt_link' : 'checkout_link')}</h2>
<p>${t(language, bill.paid ? 'receipt_link_note' : 'new_link_note')}</p>
<p><button type="button" class="button secondary" id="new-link">${t(language, 'new_link')}</button></p>
<div id="link-box" hidden><label for="checkout-link">${t(language, 'checkout_link')}</label> <input id="checkout-link" readonly size="60">
<button type="button" class="button secondary" id="copy-link">${t(language, 'copy_link')}</button> <a id="email-link" href="mailto:">${t(language, 'email_link')}</a>
${bill.paid ? `<a class="button" id="receipt-pdf" href="#" target="_blank" rel="noopener">${t(language, 'print_receipt')}</a>` : ''}</div>
</section>`
    : ''
}
<section aria-labelledby="payments-title"><h2 id="payments-title">${t(language, 'payments')}</h2>${payments}</section>
<section aria-labelledby="timeline-title"><h2 id="timeline-title">${t(language, 'timeline')}</h2><ol class="timeline">${timeline}</ol></section>
</main>`;
  return staffPage({
    language,
    person,
    title: consoleMessage(language, 'bill_number', { number: bill.number }),
    body,
    path: `/console/bills/${bill.id}`,
    scripts: SCRIPTS,
    data: { csrf_token: person.csrfToken, messages: scriptMessages(language), bill_id: bill.id },
  });
}

/**
 * The counter screen: turned towards the patient, large and plain. The payment request's QR,
 * the amount, and the live status; the checkout link's QR when the page was opened right after
 * creating the bill (the link is shown once and never kept). While the payer's travel-rule
 * information is pending there is no payment request: the screen says it waits for the
 * patient's details, which they give on the checkout page on their phone.
 */
export function renderCounterPage(language: CheckoutLanguage, person: StaffPerson, invoiceId: string, view: PayingView, qrSvg: string): string {
  const awaitingDetails = view.travelRule === 'pending';
  const linkCaption = view.status === 'paid' || view.status === 'overpaid' ? 'counter_receipt' : awaitingDetails ? 'counter_link_details' : 'counter_link';
  const body = `<main id="counter" data-bill="${escapeHtml(invoiceId)}" data-status="${view.status}" data-travel-rule="${escapeHtml(view.travelRule)}">
<p class="counter-clinic">${escapeHtml(view.clinicName)}</p>
<h1 class="counter-amount" id="counter-amount">${escapeHtml(formatMoney(view.amountDue, view.currency, language))}</h1>
<section class="counter-status status-${view.status}" id="counter-status" role="status" aria-live="polite" aria-atomic="true">
<p id="counter-status-text">${escapeHtml(counterText(language, view))}</p>
</section>
<div class="counter-codes">
<figure class="qr" id="payment-qr"${view.paymentUri === null ? ' hidden' : ''}><div role="img" aria-label="${t(language, 'counter_scan')}" id="payment-qr-image">${qrSvg}</div><figcaption>${t(language, 'counter_scan')}</figcaption></figure>
<figure class="qr" id="checkout-qr" hidden><div role="img" aria-label="${t(language, 'counter_link')}" id="checkout-qr-image"></div><figcaption id="checkout-qr-caption">${t(language, linkCaption)}</figcaption></figure>
</div>
<p class="counter-actions">
<label class="sound"><input type="checkbox" id="sound" checked> ${t(language, 'sound')}</label>
<a class="button" id="next-patient" href="/console/bills/new">${t(language, 'next_patient')}</a>
<a href="/console/bills/${escapeHtml(invoiceId)}">${t(language, 'back_to_bill')}</a>
</p>
</main>`;
  return staffPage({
    language,
    person,
    title: consoleMessage(language, 'counter_mode'),
    body,
    path: `/console/bills/${invoiceId}/counter`,
    scripts: ['/console/assets/counter.js'],
    data: {
      csrf_token: person.csrfToken,
      messages: scriptMessages(language),
      bill_id: invoiceId,
      currency: view.currency,
      locale: language,
      // In the page's language: the status carries the words the screen shows.
      status_url: `/console/bills/${invoiceId}/status?lang=${language}`,
      qr_url: `/console/bills/${invoiceId}/payment-qr.svg`,
      checkout_qr_url: `/console/bills/${invoiceId}/checkout-qr`,
    },
  });
}

/** The counter's status line for `view` (the script writes the same words when it changes). */
export function counterText(
  language: CheckoutLanguage,
  view: Pick<PayingView, 'status' | 'confirming' | 'amountPaid' | 'amountRemaining' | 'currency' | 'travelRule'>,
): string {
  const money = (amount: string) => formatMoney(amount, view.currency, language);
  switch (view.status) {
    case 'paid':
      return consoleMessage(language, 'counter_paid');
    case 'overpaid':
      return consoleMessage(language, 'counter_overpaid', { paid: money(view.amountPaid) });
    case 'underpaid':
      return consoleMessage(language, 'counter_underpaid', { paid: money(view.amountPaid), remaining: money(view.amountRemaining) });
    case 'expired':
      return consoleMessage(language, 'counter_expired');
    case 'void':
      return consoleMessage(language, 'counter_void');
    default:
      if (view.confirming) return consoleMessage(language, 'counter_confirming', { current: view.confirming.current, required: view.confirming.required });
      return consoleMessage(language, view.travelRule === 'pending' ? 'counter_travel_rule' : 'counter_waiting');
  }
}
