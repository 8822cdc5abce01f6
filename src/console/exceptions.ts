/**
 * Finance's work pages: the exception queue with the approvals waiting for a second person, one
 * exception with its evidence and resolutions (propose, approve with a passkey, send an approved
 * refund from the clinic's own wallet), and reconciliation runs with their progress and CSVs.
 * Pages show; every change is a call to the API (`/v1`) by the page's script.
 */
import type { CheckoutLanguage } from '../checkout/messages.js';
import { formatTime } from '../checkout/pages.js';
import { escapeHtml } from '../platform/html.js';
import { type ExceptionMessageKey, et, exceptionMessage, exceptionScriptMessages } from './exceptionMessages.js';
import { type StaffPerson, staffPage } from './pages.js';

const SCRIPTS = ['/console/assets/webauthn.js', '/console/assets/staff.js', '/console/assets/finance.js'];

export const EXCEPTION_STATUSES = ['open', 'pending_approval', 'resolved'] as const;

/** A token amount as the page shows it: its exact decimal text and the token's symbol. */
export interface TokenAmount {
  /** Exact decimal text in token units, e.g. "12.340000". */
  text: string;
  symbol: string;
}

function amountText(amount: TokenAmount | null): string {
  return amount === null ? '—' : escapeHtml(`${amount.text} ${amount.symbol}`);
}

function exceptionStatusBadge(language: CheckoutLanguage, status: string): string {
  return `<span class="badge badge-ex-${escapeHtml(status)}">${et(language, `ex_${status}` as ExceptionMessageKey)}</span>`;
}

function typeName(language: CheckoutLanguage, type: string): string {
  return et(language, `ty_${type}` as ExceptionMessageKey);
}

export interface ExceptionListItem {
  id: string;
  type: string;
  status: string;
  clinicName: string | null;
  invoiceNumber: number | null;
  amount: TokenAmount;
  createdAt: Date;
}

export interface ApprovalItem {
  resolutionId: string;
  exceptionId: string;
  exceptionType: string;
  action: string;
  amount: TokenAmount;
  proposedBy: string;
  proposedAt: Date;
}

export interface ExceptionFilterView {
  type: string;
  status: string;
  types: readonly string[];
}

/** The queue: what waits for this person's approval, then the exceptions, filtered. */
export function renderExceptionsPage(
  language: CheckoutLanguage,
  person: StaffPerson,
  view: { approvals: readonly ApprovalItem[]; exceptions: readonly ExceptionListItem[]; filters: ExceptionFilterView },
): string {
  const approvals =
    view.approvals.length === 0
      ? `<p id="no-approvals">${et(language, 'no_approvals')}</p>`
      : `<table id="approvals"><thead><tr><th scope="col">${et(language, 'type')}</th><th scope="col">${et(language, 'choose_action')}</th><th scope="col" class="num">${et(language, 'amount')}</th><th scope="col">${et(language, 'proposed_by')}</th><th scope="col"><span class="visually-hidden">${et(language, 'open')}</span></th></tr></thead><tbody>${view.approvals
          .map(
            (item) =>
              `<tr data-resolution="${escapeHtml(item.resolutionId)}"><td>${typeName(language, item.exceptionType)}</td><td>${et(language, `act_${item.action}` as ExceptionMessageKey)}</td><td class="num">${amountText(item.amount)}</td><td>${escapeHtml(item.proposedBy)}<br><small>${escapeHtml(formatTime(item.proposedAt, language))}</small></td><td><a href="/console/exceptions/${encodeURIComponent(item.exceptionId)}">${et(language, 'open')}</a></td></tr>`,
          )
          .join('')}</tbody></table>`;
  const option = (value: string, label: string, selected: string) =>
    `<option value="${escapeHtml(value)}"${value === selected ? ' selected' : ''}>${label}</option>`;
  const filters = `<form class="filters" method="get" action="/console/exceptions">
<input type="hidden" name="lang" value="${language}">
<label>${et(language, 'type')} <select name="type">${option('', et(language, 'any_type'), view.filters.type)}${view.filters.types.map((type) => option(type, typeName(language, type), view.filters.type)).join('')}</select></label>
<label>${et(language, 'status')} <select name="status">${option('', et(language, 'any_status'), view.filters.status)}${EXCEPTION_STATUSES.map((status) => option(status, et(language, `ex_${status}`), view.filters.status)).join('')}</select></label>
<button type="submit" class="button secondary">${et(language, 'show')}</button>
</form>`;
  const rows =
    view.exceptions.length === 0
      ? `<p id="no-exceptions">${et(language, 'no_exceptions')}</p>`
      : `<table id="exceptions"><thead><tr><th scope="col">${et(language, 'found')}</th><th scope="col">${et(language, 'type')}</th><th scope="col">${et(language, 'status')}</th><th scope="col">${et(language, 'clinic')}</th><th scope="col" class="num">${et(language, 'amount')}</th><th scope="col"><span class="visually-hidden">${et(language, 'open')}</span></th></tr></thead><tbody>${view.exceptions
          .map(
            (row) =>
              `<tr data-exception="${escapeHtml(row.id)}" data-type="${escapeHtml(row.type)}"><td>${escapeHtml(formatTime(row.createdAt, language))}</td><td>${typeName(language, row.type)}</td><td>${exceptionStatusBadge(language, row.status)}</td><td>${row.clinicName === null ? '—' : escapeHtml(row.clinicName)}${row.invoiceNumber === null ? '' : `<br><small>${et(language, 'bill')} ${row.invoiceNumber}</small>`}</td><td class="num">${amountText(row.amount)}</td><td><a href="/console/exceptions/${encodeURIComponent(row.id)}">${et(language, 'open')}</a></td></tr>`,
          )
          .join('')}</tbody></table>`;
  const body = `<main id="exceptions-page">
<h1>${et(language, 'exceptions_title')}</h1>
<section aria-labelledby="approvals-title"><h2 id="approvals-title">${et(language, 'approvals_title')}</h2>${approvals}</section>
<section aria-labelledby="queue-title"><h2 id="queue-title">${et(language, 'queue_title')}</h2>${filters}${rows}
<p><a href="/v1/exceptions/export?format=csv${view.filters.status ? `&amp;status=${escapeHtml(view.filters.status)}` : ''}${view.filters.type ? `&amp;type=${escapeHtml(view.filters.type)}` : ''}" download id="exceptions-csv">${et(language, 'exceptions_csv')}</a></p></section>
</main>`;
  const query = new URLSearchParams({
    ...(view.filters.type ? { type: view.filters.type } : {}),
    ...(view.filters.status ? { status: view.filters.status } : {}),
  }).toString();
  return staffPage({ language, person, title: exceptionMessage(language, 'exceptions_title'), body, path: `/console/exceptions${query ? `?${query}` : ''}` });
}

export interface ResolutionView {
  id: string;
  action: string;
  status: string;
  amount: TokenAmount;
  toAddress: string | null;
  targetInvoiceId: string | null;
  proposedBy: string;
  proposedAt: Date;
  approvedBy: string | null;
  approvedAt: Date | null;
  /** Proposed by the person looking: they cannot approve it. */
  mine: boolean;
  /** For an approved refund: the transfer call the clinic's wallet sends to the token. */
  calldata: string | null;
  refundTxHash: string | null;
  refundTxUrl: string | null;
}

export interface ExceptionDetailView {
  id: string;
  type: string;
  status: string;
  clinicName: string | null;
  invoice: { id: string; number: number } | null;
  txHash: string | null;
  txUrl: string | null;
  fromAddress: string | null;
  amount: TokenAmount;
  expected: TokenAmount | null;
  observed: TokenAmount | null;
  blockTime: Date | null;
  resolutions: readonly ResolutionView[];
  /** For an address an issuer froze: the address. */
  frozenAddress?: string | null;
  /** For a payment held by screening: the list entries its payer matched. */
  screening: readonly { list: string; version: string; name: string | null; reference: string | null }[] | null;
  /** Whether a resolution may be proposed (the exception is open and has a clinic). */
  proposable: boolean;
  /** What the clinic's wallet needs to send a refund. */
  wallet: { chainId: number; token: string; settlementAddress: string | null; decimals: number; symbol: string };
}

function resolutionItem(language: CheckoutLanguage, resolution: ResolutionView, wallet: ExceptionDetailView['wallet']): string {
  const line = et(language, 'resolution_line', {
    action: exceptionMessage(language, `act_${resolution.action}` as ExceptionMessageKey),
    amount: `${resolution.amount.text} ${resolution.amount.symbol}`,
    by: resolution.proposedBy,
    time: formatTime(resolution.proposedAt, language),
  });
  const to = resolution.toAddress === null ? '' : `<br><span class="hash">${et(language, 'to_address', { address: resolution.toAddress })}</span>`;
  const approved =
    resolution.approvedBy === null || resolution.approvedAt === null
      ? ''
      : `<br>${et(language, 'approved_line', { by: resolution.approvedBy, time: formatTime(resolution.approvedAt, language) })}`;
  let actions = '';
  if (resolution.status === 'pending_approval') {
    actions = resolution.mine
      ? `<p class="note own-proposal">${et(language, 'own_proposal')}</p>`
      : `<p><button type="button" class="button approve" data-resolution="${escapeHtml(resolution.id)}" hidden>${et(language, 'approve')}</button></p>`;
  } else if (resolution.status === 'awaiting_transfer' && resolution.action === 'refund') {
    const details = et(language, 'transfer_details', {
      from: wallet.settlementAddress ?? '—',
      amount: `${resolution.amount.text} ${resolution.amount.symbol}`,
      to: resolution.toAddress ?? '—',
    });
    actions = `<p class="hash transfer">${details}</p>
<p><button type="button" class="button send-refund" data-resolution="${escapeHtml(resolution.id)}" data-calldata="${escapeHtml(resolution.calldata ?? '')}" hidden>${et(language, 'send_refund')}</button></p>`;
  } else if (resolution.refundTxHash !== null) {
    const hash = escapeHtml(resolution.refundTxHash);
    actions = `<p class="hash">${et(language, 'transaction')}: ${resolution.refundTxUrl === null ? `<code>${hash}</code>` : `<a href="${escapeHtml(resolution.refundTxUrl)}" rel="noreferrer"><code>${hash}</code></a>`}</p>`;
  }
  return `<li class="resolution" id="resolution-${escapeHtml(resolution.id)}" data-status="${escapeHtml(resolution.status)}">
<p><span class="badge badge-rs-${escapeHtml(resolution.status)}">${et(language, `rs_${resolution.status}` as ExceptionMessageKey)}</span> ${line}${to}${approved}</p>
${actions}
<p class="status-line" role="status" aria-live="polite"></p>
</li>`;
}

function proposeForm(language: CheckoutLanguage, view: ExceptionDetailView): string {
  const choice = (value: string, key: ExceptionMessageKey, checked = false) =>
    `<label class="choice"><input type="radio" name="action" value="${value}"${checked ? ' checked' : ''}> ${et(language, key)}</label>`;
  const field = (name: string, label: string, extra = '', hint = '') =>
    `<p class="field" data-field="${name}"><label for="${name}">${label}</label><br><input id="${name}" name="${name}" autocomplete="off" ${extra} aria-describedby="${name}-error${hint ? ` ${name}-hint` : ''}">${hint ? `<span class="hint" id="${name}-hint">${hint}</span>` : ''}<span class="field-error" id="${name}-error" hidden></span></p>`;
  const noPayer = view.fromAddress === null;
  // A payment held by screening is released or kept held, nothing else.
  const choices =
    view.type === 'screening_hit' || view.type === 'travel_rule_mismatch'
      ? `${choice('release', 'release_choice', true)}\n${choice('keep_held', 'keep_choice')}`
      : `${noPayer ? '' : choice('refund', 'refund_payer', true)}
${choice('refund_other', 'refund_other', noPayer)}
${choice('apply_to_invoice', 'apply')}
${choice('write_off', 'write_off')}`;
  return `<section aria-labelledby="propose-title" id="propose"><h2 id="propose-title">${et(language, 'propose_title')}</h2>
<p>${et(language, 'propose_intro')}</p>
<form id="propose-form" novalidate>
<p class="form-error" id="form-error" role="alert" hidden></p>
<fieldset><legend>${et(language, 'choose_action')}</legend>
${choices}
</fieldset>
${field('amount', et(language, 'amount_units', { symbol: view.amount.symbol }), `inputmode="decimal" value="${escapeHtml(view.amount.text)}"`, et(language, 'amount_hint', { amount: `${view.amount.text} ${view.amount.symbol}` }))}
${field('to_address', et(language, 'refund_address'), 'spellcheck="false" class="wide"')}
${field('signature', et(language, 'signature'), 'spellcheck="false" class="wide"', et(language, 'signature_hint'))}
${field('target_invoice_id', et(language, 'target_invoice'), 'spellcheck="false"')}
${field('reason', et(language, 'reason'), 'maxlength="500" class="wide"')}
<p><button type="submit" class="button" id="propose-button">${et(language, 'propose')}</button></p>
</form>
<p id="propose-status" role="status" aria-live="polite"></p>
</section>`;
}

/** One exception: its evidence, its resolutions with what this person can do with each, and the form to propose one. */
export function renderExceptionPage(language: CheckoutLanguage, person: StaffPerson, view: ExceptionDetailView): string {
  const tx =
    view.txHash === null
      ? et(language, 'none')
      : view.txUrl === null
        ? `<code>${escapeHtml(view.txHash)}</code>`
        : `<a href="${escapeHtml(view.txUrl)}" rel="noreferrer"><code>${escapeHtml(view.txHash)}</code></a>`;
  const fact = (key: ExceptionMessageKey, value: string) => `<dt>${et(language, key)}</dt><dd>${value}</dd>`;
  const resolutions =
    view.resolutions.length === 0
      ? `<p id="no-resolutions">${et(language, 'no_resolutions')}</p>`
      : `<ol id="resolutions" class="resolutions">${view.resolutions.map((resolution) => resolutionItem(language, resolution, view.wallet)).join('')}</ol>`;
  const body = `<main id="exception-page" data-exception="${escapeHtml(view.id)}" data-status="${escapeHtml(view.status)}">
<p><a href="/console/exceptions">${et(language, 'exceptions_title')}</a></p>
<h1>${et(language, 'exception_title', { type: exceptionMessage(language, `ty_${view.type}` as ExceptionMessageKey) })}</h1>
<p id="exception-status">${exceptionStatusBadge(language, view.status)}</p>
<section aria-labelledby="evidence-title"><h2 id="evidence-title">${et(language, 'evidence')}</h2>
<dl class="facts">
${fact('clinic', view.clinicName === null ? '—' : escapeHtml(view.clinicName))}
${fact('bill', view.invoice === null ? '—' : `${view.invoice.number} <small><code>${escapeHtml(view.invoice.id)}</code></small>`)}
${fact('amount', amountText(view.amount))}
${fact('expected', amountText(view.expected))}
${fact('observed', amountText(view.observed))}
${fact('transaction', tx)}
${fact('paid_from', view.fromAddress === null ? '—' : `<code>${escapeHtml(view.fromAddress)}</code>`)}
${fact('block_time', view.blockTime === null ? '—' : escapeHtml(formatTime(view.blockTime, language)))}
${view.screening ? fact('listed_on', `<ul id="screening-hits">${view.screening.map((hit) => `<li><code>${escapeHtml(hit.list)}</code> ${escapeHtml(hit.name ?? '')} <small>${escapeHtml(hit.reference ?? '')} · ${escapeHtml(hit.version)}</small></li>`).join('')}</ul>`) : ''}
${view.frozenAddress ? fact('frozen_address', `<code>${escapeHtml(view.frozenAddress)}</code>`) : ''}
</dl>${view.type === 'address_frozen' ? `<p id="frozen-note">${et(language, 'frozen_note')}</p>` : ''}</section>
<section aria-labelledby="resolutions-title"><h2 id="resolutions-title">${et(language, 'resolutions')}</h2>${resolutions}
<noscript><p>${et(language, 'needs_script')}</p></noscript></section>
${view.proposable ? proposeForm(language, view) : ''}
</main>`;
  return staffPage({
    language,
    person,
    title: exceptionMessage(language, 'exception_title', { type: exceptionMessage(language, `ty_${view.type}` as ExceptionMessageKey) }),
    body,
    path: `/console/exceptions/${encodeURIComponent(view.id)}`,
    scripts: SCRIPTS,
    data: {
      csrf_token: person.csrfToken,
      messages: exceptionScriptMessages(language),
      exception_id: view.id,
      invoice_id: view.invoice?.id ?? null,
      wallet: {
        chain_id: view.wallet.chainId,
        token: view.wallet.token,
        settlement_address: view.wallet.settlementAddress,
        decimals: view.wallet.decimals,
        symbol: view.wallet.symbol,
      },
    },
  });
}

export interface RunView {
  id: string;
  status: string;
  fromBlock: string;
  toBlock: string;
  progress: number;
  counts: Record<string, unknown>;
  error: string | null;
  requestedBy: string;
  createdAt: Date;
  finishedAt: Date | null;
}

/** What a run found, in words. */
export function runResult(language: CheckoutLanguage, run: Pick<RunView, 'status' | 'counts' | 'error' | 'progress'>): string {
  if (run.status === 'running') return exceptionMessage(language, 'run_running', { percent: run.progress });
  if (run.status === 'failed') return exceptionMessage(language, 'run_failed', { error: run.error ?? '' });
  const count = (name: string) => Number(run.counts[name] ?? 0);
  return exceptionMessage(language, 'run_result', {
    matched: count('matched'),
    transfers: count('transfers_on_chain'),
    exceptions: count('exceptions'),
    new: count('new_exceptions'),
    mismatches: count('balance_mismatches'),
    balances: count('balances_checked'),
  });
}

/** Reconciliation: start a run and follow its progress; the recent runs with their results and CSVs. */
export function renderReconciliationPage(language: CheckoutLanguage, person: StaffPerson, runs: readonly RunView[]): string {
  const running = runs.find((run) => run.status === 'running');
  const table =
    runs.length === 0
      ? `<p id="no-runs">${et(language, 'no_runs')}</p>`
      : `<table id="runs"><thead><tr><th scope="col">${et(language, 'started')}</th><th scope="col">${et(language, 'status')}</th><th scope="col">${et(language, 'blocks')}</th><th scope="col">${et(language, 'result')}</th><th scope="col">${et(language, 'download')}</th></tr></thead><tbody>${runs
          .map(
            (run) =>
              `<tr data-run="${escapeHtml(run.id)}" data-status="${escapeHtml(run.status)}"><td>${escapeHtml(formatTime(run.createdAt, language))}<br><small>${escapeHtml(run.requestedBy)}</small></td><td><span class="badge badge-run-${escapeHtml(run.status)}">${et(language, `st_${run.status}` as ExceptionMessageKey)}</span></td><td>${escapeHtml(run.fromBlock)}–${escapeHtml(run.toBlock)}</td><td>${escapeHtml(runResult(language, run))}</td><td>${run.status === 'completed' ? `<a href="/v1/reconciliations/${encodeURIComponent(run.id)}/export" download>${et(language, 'run_csv')}</a>` : ''}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const body = `<main id="reconciliation-page">
<h1>${et(language, 'recon_title')}</h1>
<section aria-labelledby="start-title"><h2 id="start-title" class="visually-hidden">${et(language, 'start_run')}</h2>
<p>${et(language, 'recon_intro')}</p>
<p><button type="button" class="button" id="start-run" hidden${running ? ` data-running="${escapeHtml(running.id)}"` : ''}>${et(language, 'start_run')}</button></p>
<div id="run-progress" hidden><label for="run-bar">${et(language, 'progress')}</label> <progress id="run-bar" max="100" value="0"></progress> <span id="run-percent"></span></div>
<p id="run-status" role="status" aria-live="polite"></p>
<p id="run-downloads" hidden><a id="run-csv" href="#" download>${et(language, 'run_csv')}</a> · <a href="/v1/exceptions/export?format=csv" download>${et(language, 'exceptions_csv')}</a></p>
<noscript><p>${et(language, 'needs_script')}</p></noscript>
</section>
<section aria-labelledby="runs-title"><h2 id="runs-title">${et(language, 'runs_title')}</h2>${table}</section>
</main>`;
  return staffPage({
    language,
    person,
    title: exceptionMessage(language, 'recon_title'),
    body,
    path: '/console/reconciliation',
    scripts: SCRIPTS,
    data: { csrf_token: person.csrfToken, messages: exceptionScriptMessages(language), running: running?.id ?? null },
  });
}
