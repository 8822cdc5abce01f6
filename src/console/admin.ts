/**
 * The platform administrator's pages: the clinics (list, add one, revoked tokens) and one clinic
 * (details, settlement address changes, webhooks, API keys, people). Pages only show; every change
 * is the API's own endpoint (`/v1`), called by the page's script with the session, its CSRF token
 * and an idempotency key, and with a passkey confirmation where the API asks for one. What a
 * person may do is the API's decision; the page offers what the role uses.
 */
import type { CheckoutLanguage } from '../checkout/messages.js';
import { formatTime } from '../checkout/pages.js';
import type { Role } from '../identity/principal.js';
import { escapeHtml } from '../platform/html.js';
import { type AdminMessageKey, adminMessage, adminScriptMessages } from './adminMessages.js';
import { ROLE_NAMES } from './messages.js';
import { type StaffPerson, staffPage } from './pages.js';

const SCRIPTS = ['/console/assets/webauthn.js', '/console/assets/staff.js', '/console/assets/admin.js'];

function a(language: CheckoutLanguage, key: AdminMessageKey, params: Record<string, string | number> = {}): string {
  return escapeHtml(adminMessage(language, key, params));
}

function time(language: CheckoutLanguage, at: Date | null): string {
  return at === null ? '' : `<time datetime="${at.toISOString()}">${escapeHtml(formatTime(at, language))}</time>`;
}

/** An input with its label, hint and the place its server-checked error is shown. */
function field(
  language: CheckoutLanguage,
  form: string,
  name: string,
  label: AdminMessageKey,
  attributes: string,
  hint?: AdminMessageKey,
  control?: string,
): string {
  const id = `${form}-${name}`;
  const described = [hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ');
  return `<div class="field"><label for="${id}">${a(language, label)}</label>
${control ?? `<input id="${id}" name="${name}" ${attributes} aria-describedby="${described}">`}
${hint ? `<p class="hint" id="${id}-hint">${a(language, hint)}</p>` : ''}
<p class="field-error" id="${id}-error" data-error-for="${name}" hidden></p></div>`;
}

function select(id: string, name: string, options: readonly [string, string][], described: string): string {
  return `<select id="${id}" name="${name}" aria-describedby="${described}">${options
    .map(([value, text]) => `<option value="${escapeHtml(value)}">${escapeHtml(text)}</option>`)
    .join('')}</select>`;
}

/** A form's own error line (for answers that are not about one field). */
function formError(): string {
  return '<p class="form-error" role="alert" data-error-for="" hidden></p>';
}

function scriptData(language: CheckoutLanguage, person: StaffPerson, extra: Record<string, unknown>): Record<string, unknown> {
  return { csrf_token: person.csrfToken, messages: adminScriptMessages(language), lang: language, ...extra };
}

const STATUS_LINE = '<p id="admin-message" role="status" aria-live="polite"></p>';

export interface ClinicListRow {
  id: string;
  name: string;
  settlement_address: string;
  webhook_url: string | null;
  created_at: Date;
}

export interface RevocationView {
  kind: string;
  value: string;
  reason: string;
  revoked_by: string;
  created_at: Date;
}

/** Every clinic, the form that adds one, and the revoked tokens. */
export function renderClinicsPage(
  language: CheckoutLanguage,
  person: StaffPerson,
  view: { clinics: readonly ClinicListRow[]; revocations: readonly RevocationView[]; idempotencyKey: string },
): string {
  const rows = view.clinics
    .map(
      (clinic) => `<tr data-clinic="${escapeHtml(clinic.id)}">
<th scope="row"><a href="/console/clinics/${escapeHtml(clinic.id)}?lang=${language}">${escapeHtml(clinic.name)}</a></th>
<td><code class="hash">${escapeHtml(clinic.id)}</code></td>
<td><code class="hash">${escapeHtml(clinic.settlement_address)}</code></td>
<td>${time(language, clinic.created_at)}</td>
</tr>`,
    )
    .join('');
  const list =
    view.clinics.length === 0
      ? `<p id="no-clinics">${a(language, 'no_clinics')}</p>`
      : `<table id="clinic-list"><thead><tr><th scope="col">${a(language, 'clinic_name')}</th><th scope="col">${a(language, 'clinic_id')}</th><th scope="col">${a(language, 'settlement_address')}</th><th scope="col">${a(language, 'created')}</th></tr></thead><tbody>${rows}</tbody></table>`;
  const revocations =
    view.revocations.length === 0
      ? `<p id="no-revocations">${a(language, 'no_revocations')}</p>`
      : `<table id="revocation-list"><thead><tr><th scope="col">${a(language, 'kind')}</th><th scope="col">${a(language, 'value')}</th><th scope="col">${a(language, 'reason')}</th><th scope="col">${a(language, 'by')}</th><th scope="col">${a(language, 'when')}</th></tr></thead><tbody>${view.revocations
          .map(
            (row) =>
              `<tr><td><code>${escapeHtml(row.kind)}</code></td><td><code class="hash">${escapeHtml(row.value)}</code></td><td>${escapeHtml(row.reason)}</td><td>${escapeHtml(row.revoked_by)}</td><td>${time(language, row.created_at)}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const kinds: [string, string][] = [
    ['jti', adminMessage(language, 'kind_jti')],
    ['sub', adminMessage(language, 'kind_sub')],
  ];
  const body = `<main id="clinics">
<h1>${a(language, 'clinics_title')}</h1>
<p>${a(language, 'clinics_intro')}</p>
${STATUS_LINE}
${list}
<section aria-labelledby="new-clinic-title" id="new-clinic">
<h2 id="new-clinic-title">${a(language, 'new_clinic')}</h2>
<form id="clinic-form" data-idempotency-key="${escapeHtml(view.idempotencyKey)}" novalidate>
${formError()}
${field(language, 'clinic', 'name', 'clinic_name', 'required maxlength="200" size="40" autocomplete="organization"')}
${field(language, 'clinic', 'settlement_address', 'settlement_address', 'required size="46" spellcheck="false" autocomplete="off"', 'settlement_address_hint')}
${field(language, 'clinic', 'webhook_url', 'webhook_url', 'type="url" size="46" spellcheck="false" autocomplete="off"', 'webhook_url_hint')}
<p><button type="submit" class="button" id="create-clinic">${a(language, 'create_clinic')}</button></p>
<noscript><p>${a(language, 'needs_script')}</p></noscript>
</form>
<div id="clinic-created" hidden>
<p id="clinic-created-text" role="status"></p>
<label for="clinic-secret">${a(language, 'webhook_secret_once')}</label>
<p><input id="clinic-secret" readonly size="60" spellcheck="false"></p>
<p class="actions"><a class="button" id="open-new-clinic" href="/console/clinics">${a(language, 'open_clinic')}</a></p>
</div>
</section>
<section aria-labelledby="tokens-title" id="tokens">
<h2 id="tokens-title">${a(language, 'tokens_title')}</h2>
<p>${a(language, 'tokens_intro')}</p>
<form id="revocation-form" novalidate>
${formError()}
${field(language, 'revocation', 'kind', 'revoke_what', '', undefined, select('revocation-kind', 'kind', kinds, 'revocation-kind-error'))}
${field(language, 'revocation', 'value', 'token_value', 'required maxlength="200" size="40" spellcheck="false" autocomplete="off"')}
${field(language, 'revocation', 'reason', 'reason', 'required maxlength="500" size="40" autocomplete="off"')}
<p><button type="submit" class="button" id="revoke-tokens">${a(language, 'revoke_tokens')}</button></p>
</form>
${revocations}
</section>
</main>`;
  return staffPage({
    language,
    person,
    title: adminMessage(language, 'clinics_title'),
    body,
    path: '/console/clinics',
    scripts: SCRIPTS,
    data: scriptData(language, person, {}),
  });
}

export interface SettlementChangeView {
  id: string;
  status: 'pending' | 'approved' | 'cancelled' | 'expired';
  previous_address: string;
  address: string;
  reason: string;
  proposed_by: string;
  created_at: Date;
  expires_at: Date;
  decided_by: string | null;
  decided_at: Date | null;
}

export interface WebhookEventView {
  id: string;
  type: string;
  status: 'pending' | 'delivered' | 'failed' | 'skipped';
  attempts: number;
  last_error: string | null;
  created_at: Date;
}

export interface ApiKeyView {
  id: string;
  name: string;
  role: Role;
  hint: string;
  created_by: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface MembershipView {
  id: string;
  email: string;
  role: Role;
  created_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
}

export interface ClinicDetailView {
  id: string;
  name: string;
  settlement_address: string;
  webhook_url: string | null;
  webhook_secret_previous_until: Date | null;
  created_at: Date;
  changes: readonly SettlementChangeView[];
  events: readonly WebhookEventView[];
  apiKeys: readonly ApiKeyView[];
  memberships: readonly MembershipView[];
  /** Who is looking: their own proposal is theirs to cancel, never to approve. */
  viewerSub: string;
}

/** The roles a clinic's API key may carry, and the roles people of one clinic may have. */
const KEY_ROLES: readonly Role[] = ['clinic_staff', 'auditor'];
const MEMBER_ROLES: readonly Role[] = ['clinic_admin', 'clinic_staff', 'finance', 'auditor'];

function table(id: string, headings: readonly string[], rows: string): string {
  return `<table id="${id}"><thead><tr>${headings.map((heading) => `<th scope="col">${heading}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>`;
}

function settlementSection(language: CheckoutLanguage, clinic: ClinicDetailView): string {
  const waiting = clinic.changes.some((change) => change.status === 'pending');
  const rows = clinic.changes
    .map((change) => {
      let actions = '';
      if (change.status === 'pending') {
        const own = change.proposed_by === clinic.viewerSub;
        actions = `<div class="actions">${
          own
            ? `<p class="own-change">${a(language, 'own_change')}</p>`
            : `<button type="button" class="button" data-action="approve" data-id="${escapeHtml(change.id)}">${a(language, 'approve')}</button>`
        }<button type="button" class="button secondary" data-action="cancel" data-id="${escapeHtml(change.id)}">${a(language, 'cancel_change')}</button></div>`;
      }
      return `<tr data-change="${escapeHtml(change.id)}" data-status="${change.status}">
<td><span class="badge">${a(language, `cs_${change.status}`)}</span></td>
<td><code class="hash">${escapeHtml(change.address)}</code><br><small>${escapeHtml(change.reason)}</small></td>
<td>${escapeHtml(change.proposed_by)}<br><small>${time(language, change.created_at)}</small></td>
<td>${change.status === 'pending' ? time(language, change.expires_at) : `${escapeHtml(change.decided_by ?? '')}<br><small>${time(language, change.decided_at)}</small>`}</td>
<td>${actions}</td>
</tr>`;
    })
    .join('');
  const list =
    clinic.changes.length === 0
      ? `<p id="no-changes">${a(language, 'no_changes')}</p>`
      : table(
          'change-list',
          [a(language, 'status'), a(language, 'new_address'), a(language, 'proposed_by'), `${a(language, 'expires')} / ${a(language, 'decided_by')}`, ''],
          rows,
        );
  return `<section aria-labelledby="settlement-title" id="settlement">
<h2 id="settlement-title">${a(language, 'section_settlement')}</h2>
<dl class="facts"><dt>${a(language, 'current_address')}</dt><dd><code class="hash" id="current-address">${escapeHtml(clinic.settlement_address)}</code></dd></dl>
${formError()}
<h3>${a(language, 'changes_title')}</h3>
${waiting ? `<p class="hint">${a(language, 'approve_needs_passkey')}</p>` : ''}
${list}
<h3>${a(language, 'propose_title')}</h3>
<p class="hint">${a(language, 'propose_hint')}</p>
<form id="propose-form" novalidate>
${formError()}
${field(language, 'propose', 'address', 'new_address', 'required size="46" spellcheck="false" autocomplete="off"', 'settlement_address_hint')}
${field(language, 'propose', 'reason', 'change_reason', 'required maxlength="500" size="46" autocomplete="off"')}
<p><button type="submit" class="button" id="propose-change">${a(language, 'propose')}</button></p>
</form>
</section>`;
}

function webhooksSection(language: CheckoutLanguage, clinic: ClinicDetailView): string {
  const rows = clinic.events
    .map(
      (event) => `<tr data-event="${escapeHtml(event.id)}" data-status="${event.status}">
<td><code>${escapeHtml(event.type)}</code><br><small>${time(language, event.created_at)}</small></td>
<td><span class="badge">${a(language, `ev_${event.status}`)}</span></td>
<td class="num">${event.attempts}</td>
<td>${event.last_error === null ? '' : `<small class="hash">${escapeHtml(event.last_error)}</small>`}</td>
<td><button type="button" class="button secondary" data-action="redeliver" data-id="${escapeHtml(event.id)}">${a(language, 'redeliver')}</button></td>
</tr>`,
    )
    .join('');
  const log =
    clinic.events.length === 0
      ? `<p id="no-deliveries">${a(language, 'no_deliveries')}</p>`
      : table('event-list', [a(language, 'event_type'), a(language, 'status'), a(language, 'attempts'), a(language, 'last_error'), ''], rows);
  return `<section aria-labelledby="webhooks-title" id="webhooks">
<h2 id="webhooks-title">${a(language, 'section_webhooks')}</h2>
${formError()}
<form id="webhook-form" novalidate>
${formError()}
${field(language, 'webhook', 'webhook_url', 'webhook_url', `type="url" size="46" spellcheck="false" autocomplete="off" value="${escapeHtml(clinic.webhook_url ?? '')}"`, 'webhook_url_hint')}
<p><button type="submit" class="button secondary" id="save-webhook-url">${a(language, 'save_webhook_url')}</button></p>
</form>
<h3>${a(language, 'secret_title')}</h3>
<p class="hint">${a(language, 'secret_hint')}</p>
${clinic.webhook_secret_previous_until ? `<p id="secret-overlap">${a(language, 'secret_previous_until', { time: formatTime(clinic.webhook_secret_previous_until, language) })}</p>` : ''}
<p><button type="button" class="button secondary" id="rotate-secret">${a(language, 'rotate_secret')}</button></p>
<div id="secret-box" hidden>
<label for="new-secret">${a(language, 'webhook_secret_once')}</label>
<p><input id="new-secret" readonly size="60" spellcheck="false"></p>
<p><button type="button" class="button secondary" data-action="done">${a(language, 'copied_done')}</button></p>
</div>
<h3>${a(language, 'deliveries_title')}</h3>
${log}
</section>`;
}

function apiKeysSection(language: CheckoutLanguage, clinic: ClinicDetailView): string {
  const rows = clinic.apiKeys
    .map(
      (key) => `<tr data-key="${escapeHtml(key.id)}" data-state="${key.revoked_at === null ? 'active' : 'revoked'}">
<td>${escapeHtml(key.name)}</td>
<td>${escapeHtml(ROLE_NAMES[language][key.role])}</td>
<td><code>${escapeHtml(key.hint)}</code></td>
<td>${time(language, key.created_at)}<br><small>${escapeHtml(key.created_by)}</small></td>
<td>${key.last_used_at === null ? a(language, 'never') : time(language, key.last_used_at)}</td>
<td>${
        key.revoked_at === null
          ? `<button type="button" class="button secondary" data-action="revoke-key" data-id="${escapeHtml(key.id)}">${a(language, 'revoke')}</button>`
          : `<span class="badge">${a(language, 'revoked')}</span>`
      }</td>
</tr>`,
    )
    .join('');
  const list =
    clinic.apiKeys.length === 0
      ? `<p id="no-api-keys">${a(language, 'no_api_keys')}</p>`
      : table(
          'api-key-list',
          [a(language, 'api_key_name'), a(language, 'api_key_role'), a(language, 'api_key_hint'), a(language, 'created'), a(language, 'last_used'), ''],
          rows,
        );
  const roles = KEY_ROLES.map((role): [string, string] => [role, ROLE_NAMES[language][role]]);
  return `<section aria-labelledby="api-keys-title" id="api-keys">
<h2 id="api-keys-title">${a(language, 'section_api_keys')}</h2>
${formError()}
${list}
<h3>${a(language, 'create_key')}</h3>
<p class="hint">${a(language, 'create_key_hint')}</p>
<form id="api-key-form" novalidate>
${formError()}
${field(language, 'api-key', 'name', 'api_key_name', 'required maxlength="100" size="30" autocomplete="off"')}
${field(language, 'api-key', 'role', 'api_key_role', '', undefined, select('api-key-role', 'role', roles, 'api-key-role-error'))}
<p><button type="submit" class="button" id="create-api-key">${a(language, 'create_key')}</button></p>
</form>
<div id="api-key-box" hidden>
<label for="new-api-key">${a(language, 'api_key_once')}</label>
<p><input id="new-api-key" readonly size="60" spellcheck="false"></p>
<p><button type="button" class="button secondary" data-action="done">${a(language, 'copied_done')}</button></p>
</div>
</section>`;
}

function peopleSection(language: CheckoutLanguage, clinic: ClinicDetailView): string {
  const rows = clinic.memberships
    .map(
      (
        member,
      ) => `<tr data-membership="${escapeHtml(member.id)}" data-state="${member.revoked_at !== null ? 'revoked' : member.accepted_at !== null ? 'accepted' : 'invited'}">
<td>${escapeHtml(member.email)}</td>
<td>${escapeHtml(ROLE_NAMES[language][member.role])}</td>
<td><span class="badge">${a(language, member.revoked_at !== null ? 'revoked' : member.accepted_at !== null ? 'accepted' : 'invited')}</span><br><small>${time(language, member.revoked_at ?? member.accepted_at ?? member.created_at)}</small></td>
<td>${
        member.revoked_at === null
          ? `<button type="button" class="button secondary" data-action="revoke-membership" data-id="${escapeHtml(member.id)}">${a(language, 'revoke')}</button>`
          : ''
      }</td>
</tr>`,
    )
    .join('');
  const list =
    clinic.memberships.length === 0
      ? `<p id="no-memberships">${a(language, 'no_memberships')}</p>`
      : table('membership-list', [a(language, 'email'), a(language, 'role'), a(language, 'status'), ''], rows);
  const roles = MEMBER_ROLES.map((role): [string, string] => [role, ROLE_NAMES[language][role]]);
  return `<section aria-labelledby="people-title" id="people">
<h2 id="people-title">${a(language, 'section_people')}</h2>
${formError()}
${list}
<h3>${a(language, 'invite_title')}</h3>
<p class="hint">${a(language, 'invite_hint')}</p>
<form id="membership-form" novalidate>
${formError()}
${field(language, 'membership', 'email', 'email', 'type="email" required maxlength="254" size="30" autocomplete="off"')}
${field(language, 'membership', 'role', 'role', '', undefined, select('membership-role', 'role', roles, 'membership-role-error'))}
<p><button type="submit" class="button" id="invite">${a(language, 'invite')}</button></p>
</form>
</section>`;
}

/** One clinic: its details, settlement address changes, webhooks, API keys and people. */
export function renderClinicPage(language: CheckoutLanguage, person: StaffPerson, clinic: ClinicDetailView): string {
  const toc = (['settlement', 'webhooks', 'api-keys', 'people'] as const)
    .map(
      (id) =>
        `<a href="#${id}">${a(language, ({ settlement: 'section_settlement', webhooks: 'section_webhooks', 'api-keys': 'section_api_keys', people: 'section_people' } as const)[id])}</a>`,
    )
    .join(' ');
  const body = `<main id="clinic" data-clinic="${escapeHtml(clinic.id)}">
<p><a href="/console/clinics?lang=${language}">${a(language, 'clinics_title')}</a></p>
<h1>${escapeHtml(clinic.name)}</h1>
${STATUS_LINE}
<nav aria-label="${a(language, 'on_this_page')}" class="toc"><p class="actions">${toc}</p></nav>
<section aria-labelledby="details-title" id="details">
<h2 id="details-title">${a(language, 'section_details')}</h2>
<dl class="facts">
<dt>${a(language, 'clinic_id')}</dt><dd><code>${escapeHtml(clinic.id)}</code></dd>
<dt>${a(language, 'settlement_address')}</dt><dd><code class="hash">${escapeHtml(clinic.settlement_address)}</code></dd>
<dt>${a(language, 'webhook_url')}</dt><dd id="current-webhook-url">${clinic.webhook_url === null ? a(language, 'none') : `<code class="hash">${escapeHtml(clinic.webhook_url)}</code>`}</dd>
<dt>${a(language, 'created')}</dt><dd>${time(language, clinic.created_at)}</dd>
</dl>
</section>
${settlementSection(language, clinic)}
${webhooksSection(language, clinic)}
${apiKeysSection(language, clinic)}
${peopleSection(language, clinic)}
<noscript><p>${a(language, 'needs_script')}</p></noscript>
</main>`;
  return staffPage({
    language,
    person,
    title: clinic.name,
    body,
    path: `/console/clinics/${clinic.id}`,
    scripts: SCRIPTS,
    data: scriptData(language, person, { clinic_id: clinic.id }),
  });
}
