/**
 * The auditor's pages: statements (choose a clinic and a period, see the statement's totals and
 * root, download it through the API, and verify a downloaded file in the browser) and the audit
 * log (filtered, paged, and its hash chain checked through the API). Pages only show; they take
 * plain views made by http/consoleAudit.ts from the reports and audit functions.
 */
import type { CheckoutLanguage } from '../checkout/messages.js';
import { formatMoney, formatTime } from '../checkout/pages.js';
import { isRole } from '../identity/principal.js';
import { escapeHtml } from '../platform/html.js';
import { type AuditMessageKey, auditMessage, auditScriptMessages, ta } from './auditMessages.js';
import { ROLE_NAMES } from './messages.js';
import { type StaffPerson, staffPage } from './pages.js';

/** A message of the page with its values: what was wrong with a request, in the reader's language. */
export interface PageNotice {
  key: AuditMessageKey;
  params?: Record<string, string | number>;
}

export interface ClinicOption {
  id: string;
  name: string;
}

/** The statement asked for, as typed (Hong Kong days, both included). */
export interface StatementChoice {
  clinicId: string;
  from: string;
  to: string;
}

export type StatementFormat = 'pdf' | 'csv' | 'json' | 'fhir';

/** A recorded statement as the page shows it: HKD amounts as exact decimal text. */
export interface StatementFigures {
  id: string;
  clinicName: string;
  periodFrom: Date;
  periodTo: Date;
  generatedAt: Date;
  opening: string;
  closing: string;
  lineCount: number;
  merkleRoot: string;
  auditHead: { seq: string; row_hash: string } | null;
  anchor: { chainId: number; txHash: string; blockNumber: string } | null;
  totals: { kind: string; count: number; hkd: string }[];
  /** The API's own URLs for the statement in each format. */
  downloads: { format: StatementFormat; url: string }[];
}

export interface StatementsView {
  clinics: readonly ClinicOption[];
  choice: StatementChoice;
  /** What is wrong with the request, field by field (`clinic_id`, `from`, `to`). */
  errors: Partial<Record<'clinic_id' | 'from' | 'to', PageNotice>>;
  statement: StatementFigures | undefined;
}

const KIND_KEYS: Record<string, AuditMessageKey> = {
  invoice: 'kind_invoice',
  payment: 'kind_payment',
  forward: 'kind_forward',
  outflow: 'kind_outflow',
  reversal: 'kind_reversal',
  refund: 'kind_refund',
  application: 'kind_application',
  write_off: 'kind_write_off',
};

const DOWNLOAD_KEYS: Record<StatementFormat, AuditMessageKey> = {
  pdf: 'download_pdf',
  csv: 'download_csv',
  json: 'download_json',
  fhir: 'download_fhir',
};

function notice(language: CheckoutLanguage, value: PageNotice): string {
  return ta(language, value.key, value.params);
}

/** A form field with its label, hint and error, the error tied to it for assistive technology. */
function field(
  language: CheckoutLanguage,
  options: { id: string; label: AuditMessageKey; control: string; error?: PageNotice | undefined; hint?: AuditMessageKey },
): string {
  const described = [options.hint ? `${options.id}-hint` : '', options.error ? `${options.id}-error` : ''].filter(Boolean).join(' ');
  const control = options.control.replace(
    ' data-field',
    `${described ? ` aria-describedby="${described}"` : ''}${options.error ? ' aria-invalid="true"' : ''}`,
  );
  return `<p class="field"><label for="${options.id}">${ta(language, options.label)}</label><br>${control}${
    options.hint ? `<br><small id="${options.id}-hint">${ta(language, options.hint)}</small>` : ''
  }${options.error ? `<br><span class="field-error" id="${options.id}-error">${notice(language, options.error)}</span>` : ''}</p>`;
}

function statementSection(language: CheckoutLanguage, statement: StatementFigures): string {
  const money = (amount: string) => escapeHtml(formatMoney(amount, 'HKD', language));
  const totals =
    statement.totals.length === 0
      ? `<p id="no-movements">${ta(language, 'no_movements')}</p>`
      : `<table id="statement-totals"><thead><tr><th scope="col">${ta(language, 'kind')}</th><th scope="col" class="num">${ta(language, 'count')}</th><th scope="col" class="num">${ta(language, 'amount_hkd')}</th></tr></thead><tbody>${statement.totals
          .map(
            (total) =>
              `<tr data-kind="${escapeHtml(total.kind)}"><th scope="row">${KIND_KEYS[total.kind] ? ta(language, KIND_KEYS[total.kind]!) : `<code>${escapeHtml(total.kind)}</code>`}</th><td class="num">${escapeHtml(total.count)}</td><td class="num">${money(total.hkd)}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const anchor = statement.anchor
    ? ta(language, 'anchor_value', { chain: statement.anchor.chainId, block: statement.anchor.blockNumber, tx: statement.anchor.txHash })
    : ta(language, 'not_anchored');
  const downloads = statement.downloads
    .map(
      (download) =>
        `<li><a id="download-${download.format}" href="${escapeHtml(download.url)}" download>${ta(language, DOWNLOAD_KEYS[download.format])}</a></li>`,
    )
    .join('');
  return `<section aria-labelledby="statement-title" id="statement" data-statement="${escapeHtml(statement.id)}">
<h2 id="statement-title">${ta(language, 'statement_of', { clinic: statement.clinicName })}</h2>
<dl class="facts">
<dt>${ta(language, 'statement_id')}</dt><dd><code>${escapeHtml(statement.id)}</code></dd>
<dt>${ta(language, 'period')}</dt><dd>${ta(language, 'period_value', { from: formatTime(statement.periodFrom, language), to: formatTime(statement.periodTo, language) })}</dd>
<dt>${ta(language, 'generated')}</dt><dd>${escapeHtml(formatTime(statement.generatedAt, language))}</dd>
<dt>${ta(language, 'opening_balance')}</dt><dd id="opening-balance">${money(statement.opening)}</dd>
<dt>${ta(language, 'closing_balance')}</dt><dd id="closing-balance">${money(statement.closing)}</dd>
<dt>${ta(language, 'line_count')}</dt><dd id="line-count">${escapeHtml(statement.lineCount)}</dd>
<dt>${ta(language, 'merkle_root')}</dt><dd><code class="hash" id="merkle-root">${escapeHtml(statement.merkleRoot)}</code></dd>
<dt>${ta(language, 'audit_head')}</dt><dd>${statement.auditHead ? `${ta(language, 'audit_head_value', { seq: statement.auditHead.seq })} <code class="hash">${escapeHtml(statement.auditHead.row_hash)}</code>` : ta(language, 'none')}</dd>
<dt>${ta(language, 'anchor')}</dt><dd id="anchor" class="hash">${anchor}</dd>
</dl>
<h3>${ta(language, 'totals')}</h3>
${totals}
<h3 id="downloads-title">${ta(language, 'downloads')}</h3>
<ul id="downloads" aria-labelledby="downloads-title">${downloads}</ul>
</section>`;
}

/** The statements page: the choice, the statement when one was asked for, and the verifier. */
export function renderStatementsPage(language: CheckoutLanguage, person: StaffPerson, view: StatementsView): string {
  const { choice, errors } = view;
  const options = [`<option value="">${ta(language, 'choose_clinic')}</option>`]
    .concat(
      view.clinics.map(
        (clinic) =>
          `<option value="${escapeHtml(clinic.id)}"${clinic.id === choice.clinicId ? ' selected' : ''}>${escapeHtml(clinic.name)}${
            view.clinics.filter((other) => other.name === clinic.name).length > 1 ? ` (…${escapeHtml(clinic.id.slice(-6))})` : ''
          }</option>`,
      ),
    )
    .join('');
  const problems = Object.values(errors);
  const body = `<main id="statements">
<h1>${ta(language, 'statements_title')}</h1>
<p>${ta(language, 'statements_intro')}</p>
${problems.length === 0 ? '' : `<p class="notice" role="alert" id="statement-error">${problems.map((problem) => notice(language, problem)).join(' ')}</p>`}
${
  view.clinics.length === 0
    ? `<p id="no-clinics">${ta(language, 'no_clinics')}</p>`
    : `<form method="get" action="/console/statements" class="filters" id="statement-form">
${field(language, { id: 'clinic_id', label: 'clinic', error: errors.clinic_id, control: `<select id="clinic_id" name="clinic_id" required data-field>${options}</select>` })}
${field(language, { id: 'from', label: 'from_date', hint: 'date_hint', error: errors.from, control: `<input id="from" name="from" type="date" required value="${escapeHtml(choice.from)}" data-field>` })}
${field(language, { id: 'to', label: 'to_date', hint: 'date_hint', error: errors.to, control: `<input id="to" name="to" type="date" required value="${escapeHtml(choice.to)}" data-field>` })}
<input type="hidden" name="lang" value="${language}">
<p><button type="submit" class="button" id="show-statement">${ta(language, 'show_statement')}</button></p>
</form>`
}
${view.statement ? statementSection(language, view.statement) : ''}
<section aria-labelledby="verify-title" id="verifier">
<h2 id="verify-title">${ta(language, 'verify_heading')}</h2>
<p>${ta(language, 'verify_intro')}</p>
<form id="verify-form" novalidate>
${field(language, { id: 'statement-file', label: 'statement_file', control: '<input id="statement-file" name="statement" type="file" accept=".json,application/json" data-field>' })}
${field(language, { id: 'rpc-url', label: 'rpc_url', hint: 'rpc_hint', control: '<input id="rpc-url" name="rpc" type="url" inputmode="url" autocomplete="url" placeholder="https://" data-field>' })}
<p><button type="submit" class="button" id="verify" disabled>${ta(language, 'verify_button')}</button></p>
</form>
<div id="verify-result" role="status" aria-live="polite"></div>
<noscript><p>${ta(language, 'verifier_needs_script')}</p></noscript>
</section>
</main>`;
  const query = new URLSearchParams(
    Object.entries({ clinic_id: choice.clinicId, from: choice.from, to: choice.to }).filter(([, value]) => value !== ''),
  ).toString();
  return staffPage({
    language,
    person,
    title: auditMessage(language, 'statements_title'),
    body,
    path: `/console/statements${query ? `?${query}` : ''}`,
    scripts: ['/console/assets/staff.js', '/console/statements/verify.js', '/console/assets/statements.js'],
    data: { csrf_token: person.csrfToken, messages: auditScriptMessages(language) },
  });
}

/** The audit log's filters, as typed. */
export interface AuditFilters {
  from: string;
  to: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
}

export type AuditFilterName = keyof AuditFilters;

export interface AuditRowView {
  id: string;
  seq: string;
  occurredAt: Date;
  actor: string;
  role: string;
  auth: Record<string, unknown> | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
}

export interface AuditView {
  filters: AuditFilters;
  invalid: readonly AuditFilterName[];
  rows: readonly AuditRowView[];
  /** The seq to page from towards older rows, and towards newer ones, when there are any. */
  older: string | undefined;
  newer: string | undefined;
}

const FILTER_FIELDS: readonly { name: AuditFilterName; param: string; label: AuditMessageKey; type: string; pattern?: string }[] = [
  { name: 'from', param: 'from', label: 'filter_from', type: 'date' },
  { name: 'to', param: 'to', label: 'filter_to', type: 'date' },
  { name: 'actor', param: 'actor', label: 'actor', type: 'text' },
  { name: 'action', param: 'action', label: 'action', type: 'text', pattern: '[a-z_.]{1,64}' },
  { name: 'targetType', param: 'target_type', label: 'subject_type', type: 'text', pattern: '[a-z_]{1,32}' },
  { name: 'targetId', param: 'target_id', label: 'subject_id', type: 'text', pattern: '[A-Za-z0-9_:.\\-]{1,128}' },
];

/** The page's query for `filters`, as URL parameters (the empty ones left out). */
export function auditFilterQuery(filters: AuditFilters, language: CheckoutLanguage, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const field of FILTER_FIELDS) if (filters[field.name] !== '') params.set(field.param, filters[field.name]);
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  params.set('lang', language);
  return params.toString();
}

function authText(language: CheckoutLanguage, auth: Record<string, unknown> | null): string {
  if (!auth || typeof auth.method !== 'string') return ta(language, 'auth_none');
  const keys: Record<string, AuditMessageKey> = { session: 'auth_session', jwt: 'auth_jwt', api_key: 'auth_api_key' };
  const method = keys[auth.method] ? ta(language, keys[auth.method]!) : `<code>${escapeHtml(auth.method)}</code>`;
  return auth.step_up === undefined ? method : `${method} <small>(${ta(language, 'auth_step_up')})</small>`;
}

function roleText(language: CheckoutLanguage, role: string): string {
  return isRole(role) ? escapeHtml(ROLE_NAMES[language][role]) : `<code>${escapeHtml(role)}</code>`;
}

/** The audit log: filters, one page of rows newest first, paging, and the chain's check. */
export function renderAuditPage(language: CheckoutLanguage, person: StaffPerson, view: AuditView): string {
  const { filters } = view;
  const inputs = FILTER_FIELDS.map((spec) => {
    const bad = view.invalid.includes(spec.name);
    return `<label>${ta(language, spec.label)} <input name="${spec.param}" type="${spec.type}" value="${escapeHtml(filters[spec.name])}"${spec.pattern ? ` pattern="${spec.pattern}"` : ''} maxlength="128" autocomplete="off"${bad ? ' aria-invalid="true" aria-describedby="filter-error"' : ''}></label>`;
  }).join('\n');
  const invalid =
    view.invalid.length === 0
      ? ''
      : `<p class="notice" role="alert" id="filter-error">${ta(language, 'bad_filters', {
          fields: view.invalid.map((name) => auditMessage(language, FILTER_FIELDS.find((spec) => spec.name === name)!.label)).join(', '),
        })}</p>`;
  const rows = view.rows
    .map(
      (row) => `<tr data-seq="${escapeHtml(row.seq)}" data-action="${escapeHtml(row.action)}">
<td><time datetime="${row.occurredAt.toISOString()}">${escapeHtml(formatTime(row.occurredAt, language))}</time></td>
<td><span class="hash actor">${escapeHtml(row.actor)}</span><br><small><span class="role">${roleText(language, row.role)}</span> · <span class="auth">${authText(language, row.auth)}</span></small></td>
<td class="hash"><code>${escapeHtml(row.action)}</code></td>
<td class="hash">${row.targetType === null ? '' : `${escapeHtml(row.targetType)} <code>${escapeHtml(row.targetId ?? '')}</code>`}</td>
</tr>`,
    )
    .join('');
  const paging = [
    view.newer
      ? `<a id="newer" href="/console/audit?${escapeHtml(auditFilterQuery(filters, language, { after: view.newer }))}">${ta(language, 'newer')}</a>`
      : '',
    view.older
      ? `<a id="older" href="/console/audit?${escapeHtml(auditFilterQuery(filters, language, { before: view.older }))}">${ta(language, 'older')}</a>`
      : '',
  ].filter(Boolean);
  const body = `<main id="audit">
<h1>${ta(language, 'audit_title')}</h1>
<p>${ta(language, 'audit_intro')}</p>
<section aria-labelledby="chain-title" id="chain">
<h2 id="chain-title">${ta(language, 'verify_chain')}</h2>
<p>${ta(language, 'verify_chain_intro')}</p>
<p><button type="button" class="button" id="verify-chain" disabled>${ta(language, 'verify_chain')}</button></p>
<p id="chain-result" role="status" aria-live="polite"></p>
</section>
${invalid}
<form method="get" action="/console/audit" class="filters" role="search" id="audit-filters">
${inputs}
<input type="hidden" name="lang" value="${language}">
<button type="submit" class="button secondary">${ta(language, 'apply_filters')}</button>
<a href="/console/audit?lang=${language}">${ta(language, 'clear_filters')}</a>
</form>
${
  view.rows.length === 0
    ? `<p id="no-rows">${ta(language, 'no_rows')}</p>`
    : `<table id="audit-rows"><thead><tr><th scope="col">${ta(language, 'col_time')}</th><th scope="col">${ta(language, 'col_actor')}<br><small>${ta(language, 'col_role')} · ${ta(language, 'col_auth')}</small></th><th scope="col">${ta(language, 'col_action')}</th><th scope="col">${ta(language, 'col_subject')}</th></tr></thead><tbody>${rows}</tbody></table>`
}
${paging.length === 0 ? '' : `<nav aria-label="${ta(language, 'pages')}"><p class="actions">${paging.join(' ')}</p></nav>`}
</main>`;
  return staffPage({
    language,
    person,
    title: auditMessage(language, 'audit_title'),
    body,
    path: `/console/audit?${auditFilterQuery(filters, language)}`.replace(/[?&]lang=[^&]*$/, ''),
    scripts: ['/console/assets/staff.js', '/console/assets/audit.js'],
    data: { csrf_token: person.csrfToken, messages: auditScriptMessages(language) },
  });
}
