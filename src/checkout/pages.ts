/**
 * The patient's pages, rendered on the server: the checkout page (complete without
 * JavaScript: QR code, payment link, amount and address to copy), the receipt, and the one
 * not-found page. Every interpolated value is HTML-escaped; the only script is the page's own
 * file (`/checkout/assets/checkout.js`), so a strict Content-Security-Policy holds.
 *
 * While the payer's travel-rule information is pending, the checkout page shows no place to
 * pay but a form for it instead, which the script sends with the wallet's signature.
 */
import { formatUnits } from 'viem';
import { escapeHtml, jsonForHtml } from '../platform/html.js';
import { type CheckoutPageView, type CheckoutView, type PayingView, paidSymbols, travelRuleSigningRequest } from './checkoutView.js';
import { CATALOGUES, CHECKOUT_LANGUAGES, type CheckoutLanguage, COUNTRY_CODES, COUNTRY_NAMES, LANGUAGE_NAMES, type MessageKey, message } from './messages.js';

/** Locales for number and date formatting (Hong Kong English for English: HKD as "HK$"). */
const LOCALES: Record<CheckoutLanguage, string> = { 'zh-HK': 'zh-HK', 'zh-CN': 'zh-CN', en: 'en-HK' };

/** A money amount (exact decimal text) in `currency`, formatted for `language` without going through a float. */
export function formatMoney(amount: string, currency: string, language: CheckoutLanguage): string {
  // Intl formats a decimal string exactly (ECMA-402 NumberFormat v3): no binary rounding. The
  // TypeScript lib still types the argument as number | bigint, hence the cast.
  return new Intl.NumberFormat(LOCALES[language], { style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(
    amount as unknown as number,
  );
}

/** A time in Hong Kong, for `language`. */
export function formatTime(time: Date | string, language: CheckoutLanguage): string {
  return new Intl.DateTimeFormat(LOCALES[language], {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'Asia/Hong_Kong',
    timeZoneName: 'short',
  }).format(new Date(time));
}

function t(language: CheckoutLanguage, key: MessageKey, params: Record<string, string | number> = {}): string {
  return escapeHtml(message(language, key, params));
}

/** Whether `view` waits for the payer's travel-rule information before it says where to pay. */
export function awaitsTravelRule(view: CheckoutView | PayingView): boolean {
  return 'travelRule' in view && view.travelRule === 'pending';
}

/** The headline and explanation of `view`'s status, as the script would show them. */
export function statusTexts(view: CheckoutView | PayingView, language: CheckoutLanguage): { title: string; detail: string } {
  const money = (amount: string) => formatMoney(amount, view.currency, language);
  const params = {
    amount: money(view.amountDue),
    paid: money(view.amountPaid),
    remaining: money(view.amountRemaining),
    current: view.confirming?.current ?? 0,
    required: view.confirming?.required ?? 0,
  };
  const shown = view.status === 'processing' && !view.confirming ? 'open' : view.status;
  // While nothing says where to pay, the page asks for the payer's details instead of a payment.
  const key = shown === 'open' && awaitsTravelRule(view) ? 'travel_rule' : shown;
  return { title: message(language, `status_${key}` as MessageKey, params), detail: message(language, `status_${key}_detail` as MessageKey, params) };
}

interface Shell {
  language: CheckoutLanguage;
  title: string;
  body: string;
  /** Path (with any query it keeps) the language links point at. */
  path: string;
  /** Scripts besides checkout.js (the travel-rule form's, where the form is). */
  extraScripts?: readonly string[];
}

/**
 * The list items of the language switcher: the current language marked, the others linking to
 * `path` (which may carry a query of its own) with `lang`.
 */
export function languageLinks(language: CheckoutLanguage, path: string): string {
  const join = path.includes('?') ? '&' : '?';
  return CHECKOUT_LANGUAGES.map((code) =>
    code === language
      ? `<li><span aria-current="true" lang="${code}">${escapeHtml(LANGUAGE_NAMES[code])}</span></li>`
      : `<li><a href="${escapeHtml(`${path}${join}lang=${code}`)}" lang="${code}" hreflang="${code}">${escapeHtml(LANGUAGE_NAMES[code])}</a></li>`,
  ).join('');
}

/** What an HTML page of ours is made of, besides its body. */
export interface PageFrame {
  language: CheckoutLanguage;
  title: string;
  /** The page's path with any query it keeps, for the language links. */
  path: string;
  /** The language switcher's accessible name, in the page's language. */
  languagesLabel: string;
  referrer: 'no-referrer' | 'same-origin';
  stylesheet: string;
  scripts: readonly string[];
  body: string;
}

/** The words the page's scripts may write: the travel-rule form's only where it is shown. */
function scriptMessages(language: CheckoutLanguage, withTravelRule: boolean): Record<string, string> {
  const all = CATALOGUES[language] as Record<string, string>;
  return withTravelRule ? all : Object.fromEntries(Object.entries(all).filter(([key]) => !key.startsWith('tr_')));
}

/** A whole page, never indexed, with the language switcher above `body`: the patient's pages and the staff's share it. */
export function htmlPage(frame: PageFrame): string {
  return `<!doctype html>
<html lang="${frame.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="${frame.referrer}">
<link rel="icon" href="data:,">
<title>${escapeHtml(frame.title)}</title>
<link rel="stylesheet" href="${escapeHtml(frame.stylesheet)}">
${frame.scripts.map((src) => `<script src="${escapeHtml(src)}" defer></script>`).join('\n')}
</head>
<body>
<nav class="languages" aria-label="${escapeHtml(frame.languagesLabel)}"><ul>${languageLinks(frame.language, frame.path)}</ul></nav>
${frame.body}
</body>
</html>
`;
}

function shell({ language, title, body, path, extraScripts = [] }: Shell): string {
  return htmlPage({
    language,
    title,
    path,
    body,
    languagesLabel: message(language, 'language'),
    referrer: 'no-referrer',
    stylesheet: '/checkout/assets/checkout.css',
    scripts: ['/checkout/assets/checkout.js', ...extraScripts],
  });
}

/** The line items and their total, as on the invoice. */
function itemsTable(view: CheckoutView, language: CheckoutLanguage): string {
  const money = (amount: string) => escapeHtml(formatMoney(amount, view.currency, language));
  return `<section class="items" aria-labelledby="items-title"><h2 id="items-title">${t(language, 'items')}</h2>
<table><thead><tr><th scope="col">${t(language, 'item')}</th><th scope="col" class="num">${t(language, 'quantity')}</th><th scope="col" class="num">${t(language, 'price')}</th></tr></thead>
<tbody>${view.lineItems.map((item) => `<tr><td>${escapeHtml(item.description)}</td><td class="num">${escapeHtml(item.quantity)}</td><td class="num">${money(item.amount)}</td></tr>`).join('')}</tbody>
<tfoot><tr><th scope="row" colspan="2">${t(language, 'total')}</th><td class="num">${money(view.amountDue)}</td></tr></tfoot></table></section>`;
}

const TERMINAL: readonly string[] = ['paid', 'overpaid', 'expired', 'void'];

/**
 * The tokens the invoice may be paid in, as links that reload the page asking for each (no
 * script needed), with what is still to send in each and who issues it; the chosen one marked.
 * Nothing when the invoice offers one token only.
 */
function tokenPicker(view: CheckoutPageView, language: CheckoutLanguage, path: string): string {
  if (view.tokenOptions.length < 2) return '';
  const options = view.tokenOptions
    .map((option, index) => {
      const chosen = option === view.payIn;
      const href = `${path}?token=${option.address}&lang=${language}#pay`;
      return `<li><a href="${escapeHtml(href)}" data-token="${escapeHtml(option.address)}"${chosen ? ' aria-current="true"' : ''}><span class="token-symbol">${escapeHtml(option.symbol)}</span><span class="token-amount"><span id="option-amount-${index}">${escapeHtml(option.amountToSend)}</span> ${escapeHtml(option.symbol)}</span>${option.issuer === null ? '' : `<span class="token-issuer">${t(language, 'issued_by', { issuer: option.issuer })}</span>`}${chosen ? `<span class="token-selected"><span aria-hidden="true">✓ </span>${t(language, 'token_selected')}</span>` : ''}</a></li>`;
    })
    .join('\n');
  return `<nav class="token-choice" aria-labelledby="token-choice-title">
<h3 id="token-choice-title">${t(language, 'choose_token')}</h3>
<p class="par-note" id="token-par-note">${t(language, 'tokens_at_par')}</p>
<ul class="token-options">
${options}
</ul>
</nav>`;
}

/** A field of the travel-rule form: its label, control, hint and (empty) error, tied together for assistive technology. */
function field(
  language: CheckoutLanguage,
  name: string,
  label: MessageKey,
  control: (describedBy: string) => string,
  hint?: MessageKey,
  extraClass = '',
): string {
  const id = `tr-${name}`;
  const describedBy = `${hint ? `${id}-hint ` : ''}${id}-error`;
  return `<div class="field${extraClass ? ` ${extraClass}` : ''}" id="${id}-field"${extraClass ? ' hidden' : ''}>
<label for="${id}">${t(language, label)}</label>
${hint ? `<p class="hint" id="${id}-hint">${t(language, hint)}</p>` : ''}
${control(describedBy)}
<p class="field-error" id="${id}-error" hidden></p>
</div>`;
}

const textInput =
  (name: string, maxLength: number, extra = '') =>
  (describedBy: string) =>
    `<input id="tr-${name}" name="${name}" maxlength="${maxLength}" aria-describedby="${describedBy}" ${extra}>`;

/**
 * A country or region: a short list by name and "other", which shows a two-letter code input
 * (the script sends whichever applies).
 */
function countryField(language: CheckoutLanguage, name: string, label: MessageKey, autocomplete: string): string {
  const names = COUNTRY_NAMES[language];
  const options = COUNTRY_CODES.map((code) => `<option value="${code}">${escapeHtml(names[code])}</option>`).join('');
  const select = field(
    language,
    name,
    label,
    (describedBy) =>
      `<select id="tr-${name}" name="${name}" class="country" data-other="tr-${name}-other" autocomplete="${autocomplete}" aria-describedby="${describedBy}"><option value="">${t(language, 'tr_choose')}</option>${options}<option value="other">${t(language, 'tr_country_other')}</option></select>`,
  );
  const other = field(
    language,
    `${name}-other`,
    'tr_country_code',
    (describedBy) =>
      `<input id="tr-${name}-other" class="country-code" maxlength="2" autocapitalize="characters" autocomplete="off" spellcheck="false" aria-describedby="${describedBy}">`,
    'tr_country_code_hint',
    // Hidden until "other" is chosen.
    'country-other',
  );
  return `${select}\n${other}`;
}

/**
 * While the payer's travel-rule information is pending: why it is asked for, that the clinic
 * does not see it, and the form, which the script sends with the wallet's EIP-712 signature of
 * {@link travelRuleSigningRequest} (carried as JSON: the invoice's id and chain).
 */
function travelRuleForm(view: PayingView, language: CheckoutLanguage): string {
  const path = `/checkout/${view.token}/travel-rule`;
  const idTypes = (
    [
      ['CCPT', 'tr_id_passport'],
      ['IDCD', 'tr_id_card'],
      ['MISC', 'tr_id_other'],
    ] as const
  )
    .map(([value, key]) => `<option value="${value}">${t(language, key)}</option>`)
    .join('');
  return `<section class="travel-rule" id="travel-rule" aria-labelledby="travel-rule-title">
<h2 id="travel-rule-title">${t(language, 'tr_title')}</h2>
<p>${t(language, 'tr_why')}</p>
<p>${t(language, 'tr_private')}</p>
<p class="no-wallet" id="tr-no-wallet" hidden>${t(language, 'tr_no_wallet')} <button type="button" class="copy-link" id="tr-copy-link" hidden>${t(language, 'tr_copy_link')}</button></p>
<form id="travel-rule-form" data-url="${escapeHtml(path)}" novalidate>
<p class="form-error" id="tr-form-error" role="alert" tabindex="-1" hidden></p>
${field(language, 'full_name', 'tr_full_name', textInput('full_name', 140, 'autocomplete="name" required'), 'tr_full_name_hint')}
<fieldset class="identity" aria-describedby="tr-identity-hint">
<legend>${t(language, 'tr_identity')}</legend>
<p class="hint" id="tr-identity-hint">${t(language, 'tr_identity_hint')}</p>
<div class="choices">
<label class="choice"><input type="radio" name="identity" value="document" aria-controls="tr-document" checked> ${t(language, 'tr_use_document')}</label>
<label class="choice"><input type="radio" name="identity" value="birth" aria-controls="tr-birth"> ${t(language, 'tr_use_birth')}</label>
</div>
<div class="group" id="tr-document">
${field(language, 'id_type', 'tr_id_type', (describedBy) => `<select id="tr-id_type" name="id_type" aria-describedby="${describedBy}"><option value="">${t(language, 'tr_choose')}</option>${idTypes}</select>`)}
${field(language, 'id_number', 'tr_id_number', textInput('id_number', 40, 'autocomplete="off" autocapitalize="characters" spellcheck="false"'))}
${countryField(language, 'id_country', 'tr_id_country', 'off')}
</div>
<div class="group" id="tr-birth" hidden>
${field(language, 'birth_date', 'tr_birth_date', textInput('birth_date', 10, `type="date" autocomplete="bday" min="1900-01-01"`))}
${field(language, 'birth_place', 'tr_birth_place', textInput('birth_place', 100, 'autocomplete="off"'), 'tr_birth_place_hint')}
</div>
</fieldset>
<fieldset class="address">
<legend>${t(language, 'tr_address')}</legend>
${field(language, 'address_line', 'tr_address_line', textInput('address_line', 200, 'autocomplete="street-address" required'), 'tr_address_line_hint')}
${field(language, 'address_town', 'tr_address_town', textInput('address_town', 100, 'autocomplete="address-level2" required'))}
${countryField(language, 'address_country', 'tr_address_country', 'country')}
</fieldset>
<p id="tr-wallet-note">${t(language, 'tr_wallet_note')}</p>
<p><button type="submit" class="button" id="tr-sign" aria-describedby="tr-wallet-note tr-signature-error">${t(language, 'tr_sign')}</button></p>
<p class="field-error" id="tr-signature-error" hidden></p>
<p id="tr-status" role="status" aria-live="polite"></p>
<noscript><p>${t(language, 'tr_needs_script')}</p></noscript>
</form>
<script type="application/json" id="travel-rule-request">${jsonForHtml(travelRuleSigningRequest(view.chainId, view.invoiceId))}</script>
</section>`;
}

/**
 * The checkout page of `view` in `language`; `qrSvg` is the QR code of its payment request (in
 * the token the view asks for, `view.payIn`).
 */
export function renderCheckoutPage(view: CheckoutPageView, language: CheckoutLanguage, qrSvg: string): string {
  const money = (amount: string) => escapeHtml(formatMoney(amount, view.currency, language));
  const status = statusTexts(view, language);
  const payable = view.paymentUri !== null;
  const settled = view.status === 'paid' || view.status === 'overpaid';
  const path = `/checkout/${view.token}`;
  const payIn = view.payIn;
  // A token other than the default is kept by the language links and the polled status.
  const tokenQuery = payIn === null || payIn === view.tokenOptions[0] ? '' : `?token=${payIn.address}`;
  // While the travel-rule information is pending, the page asks for it and says nothing of where to pay.
  const travelRule = awaitsTravelRule(view) && !TERMINAL.includes(view.status) ? travelRuleForm(view, language) : '';
  const reference =
    view.reference && view.reference.amounts.length > 0
      ? `<section class="reference" aria-labelledby="reference-title"><h2 id="reference-title">${t(language, 'reference_title')}</h2><ul>${view.reference.amounts
          .map(
            (amount) =>
              `<li>≈ ${escapeHtml(formatMoney(amount.amount, amount.currency, language))} <small>${t(language, 'reference_note', { rate: amount.rate, source: view.reference!.source, time: formatTime(view.reference!.asOf, language) })}</small></li>`,
          )
          .join('')}</ul></section>`
      : '';
  const payment =
    payable && payIn !== null && view.depositAddress !== null && view.tokenAmountToSend !== null
      ? `<section class="pay" id="pay" aria-labelledby="pay-title">
<h2 id="pay-title">${t(language, 'how_to_pay')}</h2>
${tokenPicker(view, language, path)}
<p class="send">${t(language, 'pay_exactly')} <strong class="amount-token"><span id="token-amount">${escapeHtml(view.tokenAmountToSend)}</span> ${escapeHtml(payIn.symbol)}</strong></p>
<figure class="qr"><div role="img" aria-label="${t(language, 'qr_label')}">${qrSvg}</div><figcaption>${t(language, 'scan_qr')}</figcaption></figure>
<p><a class="button" id="open-wallet" href="${escapeHtml(view.paymentUri ?? '')}">${t(language, 'open_wallet')}</a></p>
<p><button type="button" class="button" id="pay-with-wallet" hidden>${t(language, 'pay_with_wallet')}</button></p>
<p id="wallet-message" role="status" aria-live="polite"></p>
<h3>${t(language, 'or_send_manually')}</h3>
<dl class="manual">
<dt>${t(language, 'network')}</dt><dd>${t(language, 'chain_id', { chain: view.tokenInfo.chainId })}</dd>
<dt>${t(language, 'token')}</dt><dd><code>${escapeHtml(payIn.symbol)}</code> <code class="address" id="token-address">${escapeHtml(payIn.address)}</code></dd>
<dt>${t(language, 'to_address')}</dt><dd><code class="address" id="deposit-address">${escapeHtml(view.depositAddress)}</code> <button type="button" class="copy" data-copy="deposit-address" hidden>${t(language, 'copy')}</button></dd>
<dt>${t(language, 'amount_to_send')}</dt><dd><code id="amount-to-send">${escapeHtml(view.tokenAmountToSend)}</code> ${escapeHtml(payIn.symbol)} <button type="button" class="copy" data-copy="amount-to-send" hidden>${t(language, 'copy')}</button></dd>
</dl>
</section>`
      : '';
  const items = itemsTable(view, language);
  const receipt = `<p class="receipt-links" id="receipt-links"${settled ? '' : ' hidden'}><a class="button" href="${escapeHtml(path)}/receipt?lang=${language}">${t(language, 'view_receipt')}</a> <a href="${escapeHtml(path)}/receipt.pdf?lang=${language}">${t(language, 'download_receipt')}</a></p>`;
  // What the wallet button needs, only when the page says where to pay.
  const payData =
    payment === ''
      ? ''
      : ` data-token-address="${escapeHtml(payIn!.address)}" data-deposit-address="${escapeHtml(view.depositAddress!)}" data-token-units="${payIn!.units.toString()}" data-token-decimals="${payIn!.decimals}"`;
  const body = `<main id="checkout" data-status="${escapeHtml(view.status)}" data-travel-rule="${escapeHtml(view.travelRule)}" data-lang="${language}" data-status-url="${escapeHtml(`${path}/status${tokenQuery}`)}"
 data-chain-id="${view.chainId}"${payData} data-currency="${escapeHtml(view.currency)}" data-locale="${LOCALES[language]}"${TERMINAL.includes(view.status) ? ' data-final="true"' : ''}>
<header><p class="clinic">${escapeHtml(view.clinicName)}</p><h1>${t(language, 'invoice_number', { number: view.invoiceNumber })}</h1></header>
<section class="status status-${escapeHtml(view.status)}" id="status" role="status" aria-live="polite" aria-atomic="true">
<h2 id="status-title">${escapeHtml(status.title)}</h2>
<p id="status-detail">${escapeHtml(status.detail)}</p>
<noscript><p>${t(language, 'live_updates_off')}</p></noscript>
</section>
${receipt}
${
  // Once paid, the page says what was paid and when, not what is due and by when.
  settled && view.paidAt !== null
    ? `<section class="amount" aria-labelledby="amount-title"><h2 id="amount-title">${t(language, 'amount_paid_title')}</h2><p class="amount-due" id="amount-value">${money(view.amountPaid)}</p>
<p class="due" id="amount-note">${t(language, 'paid_on', { time: formatTime(view.paidAt, language) })}</p></section>`
    : `<section class="amount" aria-labelledby="amount-title"><h2 id="amount-title">${t(language, 'amount_due')}</h2><p class="amount-due" id="amount-value">${money(view.amountDue)}</p>
<p class="due" id="amount-note">${t(language, 'due_by', { time: formatTime(view.expiresAt, language) })}</p></section>`
}
${reference}
${travelRule}
${payment}
${items}
</main>
<script type="application/json" id="messages">${jsonForHtml(scriptMessages(language, travelRule !== ''))}</script>`;
  return shell({
    language,
    title: message(language, 'page_title', { clinic: view.clinicName, number: view.invoiceNumber }),
    body,
    path: `${path}${tokenQuery}`,
    // The form's script and words only on the page that shows the form: every other page stays as light as before.
    extraScripts: travelRule === '' ? [] : ['/checkout/assets/travelRule.js'],
  });
}

/** The receipt page of a paid invoice. */
export function renderReceiptPage(view: CheckoutView, language: CheckoutLanguage, explorerTxUrl: string | undefined): string {
  const money = (amount: string) => escapeHtml(formatMoney(amount, view.currency, language));
  const path = `/checkout/${view.token}`;
  const transactions = view.payments
    .filter((payment) => payment.final)
    .map((payment) => {
      const link = explorerTxUrl
        ? ` <a href="${escapeHtml(explorerTxUrl.replace('{tx}', payment.txHash))}" rel="noreferrer noopener">${t(language, 'view_on_explorer')}</a>`
        : '';
      return `<li><code class="hash">${escapeHtml(payment.txHash)}</code>${link}</li>`;
    })
    .join('');
  const body = `<main id="receipt" data-status="${escapeHtml(view.status)}" data-lang="${language}">
<header><p class="clinic">${escapeHtml(view.clinicName)}</p><h1>${t(language, 'receipt_heading')}</h1><p>${t(language, 'invoice_number', { number: view.invoiceNumber })}</p></header>
<dl class="receipt">
<dt>${t(language, 'paid_amount')}</dt><dd>${money(view.amountPaid)} <small>(${escapeHtml(formatUnits(view.tokenAmountPaid, view.tokenInfo.decimals))} ${escapeHtml(view.tokenInfo.symbol)})</small></dd>
<dt>${t(language, 'amount_due')}</dt><dd>${money(view.amountDue)}</dd>
<dt>${t(language, 'paid_at')}</dt><dd>${view.paidAt ? escapeHtml(formatTime(view.paidAt, language)) : ''}</dd>
<dt>${t(language, 'transaction')}</dt><dd><ul class="transactions">${transactions}</ul></dd>
</dl>
${itemsTable(view, language)}
<p class="note">${t(language, 'receipt_note', { symbol: paidSymbols(view), chain: view.tokenInfo.chainId })}</p>
<p><a class="button" href="${escapeHtml(path)}/receipt.pdf?lang=${language}">${t(language, 'download_receipt')}</a> <a href="${escapeHtml(path)}?lang=${language}">${t(language, 'back_to_invoice')}</a></p>
</main>`;
  return shell({ language, title: message(language, 'receipt_title', { clinic: view.clinicName }), body, path: `${path}/receipt` });
}

/** The one page for every token that is not an invoice's: the same bytes whatever the token was. */
export function renderNotFoundPage(language: CheckoutLanguage): string {
  const body = `<main id="not-found" data-status="not_found"><h1>${t(language, 'not_found_title')}</h1><p>${t(language, 'not_found_detail')}</p></main>`;
  return shell({ language, title: message(language, 'not_found_title'), body, path: '' });
}
