/**
 * console/ — the pages staff see: sign-in, signed-out, and the console they land on. Server
 * rendered, in zh-HK, zh-CN and en, with the checkout page's rules: no inline script or style,
 * nothing from another origin. Pages show; the API (through http/) decides what a role may do.
 *
 * Owns tables: none.
 * May import: platform, domain, identity, checkout.
 */
import type { CheckoutLanguage } from '../checkout/messages.js';
import { formatTime, htmlPage } from '../checkout/pages.js';
import type { Role } from '../identity/principal.js';
import { escapeHtml, jsonForHtml } from '../platform/html.js';
import { type ConsoleMessageKey, consoleMessage, ROLE_ABILITIES, ROLE_NAMES, scriptMessages } from './messages.js';

/** Why the sign-in page is shown with a notice; each is a message of the page. */
export const SIGN_IN_NOTICES = ['unavailable', 'failed', 'no_access', 'too_many', 'not_configured', 'expired'] as const;
export type SignInNotice = (typeof SIGN_IN_NOTICES)[number];

export function isSignInNotice(value: unknown): value is SignInNotice {
  return typeof value === 'string' && (SIGN_IN_NOTICES as readonly string[]).includes(value);
}

export function t(language: CheckoutLanguage, key: ConsoleMessageKey, params: Record<string, string | number> = {}): string {
  return escapeHtml(consoleMessage(language, key, params));
}

interface Shell {
  language: CheckoutLanguage;
  title: string;
  body: string;
  /** The page's path with any query it keeps, for the language links. */
  path: string;
  scripts?: readonly string[];
  /** Data for the page's script, as JSON in a non-executable script element. */
  data?: unknown;
  /** The signed-in person: pages for them get the console's bar (menu, who, sign-out). */
  person?: StaffPerson | undefined;
}

/** Who a console page is for, as its bar shows them. */
export interface StaffPerson {
  name: string;
  role: Role;
  clinicId: string | null;
  csrfToken: string;
  /** For people of every clinic: the clinics to switch between, and the one chosen (none: all). */
  clinics?: { id: string; name: string }[];
  clinicChoice?: string | undefined;
}

/** The console's sections, each for the roles that use it. */
const SECTIONS: readonly { path: string; key: ConsoleMessageKey; roles: readonly Role[] }[] = [
  { path: '/console', key: 'nav_home', roles: ['platform_admin', 'clinic_admin', 'clinic_staff', 'finance', 'auditor'] },
  { path: '/console/bills', key: 'nav_bills', roles: ['clinic_admin', 'clinic_staff'] },
  { path: '/console/bills/new', key: 'nav_new_bill', roles: ['clinic_admin', 'clinic_staff'] },
  { path: '/console/finance', key: 'nav_finance', roles: ['finance'] },
  { path: '/console/exceptions', key: 'nav_exceptions', roles: ['finance'] },
  { path: '/console/reconciliation', key: 'nav_reconciliation', roles: ['finance'] },
  { path: '/console/statements', key: 'nav_statements', roles: ['finance', 'auditor'] },
  { path: '/console/audit', key: 'nav_audit', roles: ['auditor', 'platform_admin'] },
  { path: '/console/clinics', key: 'nav_clinics', roles: ['platform_admin'] },
];

/** Whether `role` uses the console section at `path`. */
export function sectionAllows(path: string, role: Role): boolean {
  return SECTIONS.find((section) => section.path === path)?.roles.includes(role) ?? false;
}

/** The switcher of people of every clinic: a plain form (no script needed) back to the same page. */
function clinicSwitch(language: CheckoutLanguage, clinics: readonly { id: string; name: string }[], choice: string | undefined, current: string): string {
  const options = [`<option value=""${choice === undefined ? ' selected' : ''}>${t(language, 'all_clinics')}</option>`]
    .concat(clinics.map((clinic) => `<option value="${escapeHtml(clinic.id)}"${clinic.id === choice ? ' selected' : ''}>${escapeHtml(clinic.name)}</option>`))
    .join('');
  // To the section's first page: the object on this page may not be of the clinic chosen.
  const section = current.split('/').slice(0, 3).join('/');
  return `<form method="get" action="${escapeHtml(section)}" class="clinic-switch" id="clinic-switch"><input type="hidden" name="lang" value="${language}"><label>${t(language, 'clinic')} <select name="clinic" id="clinic-choice">${options}</select></label> <button type="submit" class="link">${t(language, 'switch_clinic')}</button></form>`;
}

function bar(language: CheckoutLanguage, person: StaffPerson, current: string): string {
  const links = SECTIONS.filter((section) => section.roles.includes(person.role))
    .map((section) => `<li><a href="${section.path}"${section.path === current ? ' aria-current="page"' : ''}>${t(language, section.key)}</a></li>`)
    .join('');
  return `<header class="bar">
<a class="brand" href="/console">ClinicPay</a>
<nav aria-label="${t(language, 'main_menu')}"><ul>${links}</ul></nav>
${person.clinics ? clinicSwitch(language, person.clinics, person.clinicChoice, current) : ''}
<p class="who"><span id="who-name">${escapeHtml(person.name)}</span> · <span id="who-role">${escapeHtml(ROLE_NAMES[language][person.role])}</span></p>
<form method="post" action="/auth/sign-out" class="sign-out"><input type="hidden" name="_csrf" value="${escapeHtml(person.csrfToken)}"><button type="submit" class="link" id="sign-out">${t(language, 'sign_out')}</button></form>
</header>`;
}

/** A console page for a signed-in person: the bar, then `body`. */
export function staffPage(options: Omit<Shell, 'person'> & { person: StaffPerson }): string {
  return shell(options);
}

function shell({ language, title, body, path, scripts = [], data, person }: Shell): string {
  return htmlPage({
    language,
    title,
    path,
    languagesLabel: consoleMessage(language, 'language'),
    referrer: 'same-origin',
    stylesheet: '/console/assets/console.css',
    scripts,
    body: `${person ? bar(language, person, path.split('?')[0]!) : ''}
${body}
${data === undefined ? '' : `<script type="application/json" id="page-data">${jsonForHtml(data)}</script>`}`,
  });
}

/** The sign-in page: one button to the identity provider, and what went wrong, if anything. */
export function renderSignInPage(language: CheckoutLanguage, options: { returnTo: string; notice: SignInNotice | undefined; canSignIn: boolean }): string {
  const start = `/auth/login?${new URLSearchParams({ return_to: options.returnTo, lang: language }).toString()}`;
  const notice =
    options.notice === undefined
      ? ''
      : `<p class="notice" role="alert" id="notice" data-notice="${options.notice}">${t(language, `error_${options.notice}`)}</p>`;
  const button = options.canSignIn ? `<p><a class="button" id="sign-in" href="${escapeHtml(start)}">${t(language, 'sign_in_button')}</a></p>` : '';
  const body = `<main id="sign-in-page" class="narrow">
<p class="brand">ClinicPay</p>
<h1>${t(language, 'sign_in_heading')}</h1>
${notice}
<p>${t(language, 'sign_in_intro')}</p>
${button}
</main>`;
  const query = new URLSearchParams({ return_to: options.returnTo, ...(options.notice ? { error: options.notice } : {}) }).toString();
  return shell({ language, title: consoleMessage(language, 'sign_in_title'), body, path: `/auth/sign-in?${query}` });
}

/** The console's 404 (or, with `why`, a page the role does not use): the same for an unknown id and another clinic's. */
export function renderNotFoundPage(language: CheckoutLanguage, person: StaffPerson, why: ConsoleMessageKey = 'not_found'): string {
  const body = `<main id="not-found"><h1>${t(language, why)}</h1><p><a href="/console">${t(language, 'nav_home')}</a></p></main>`;
  return shell({ language, person, title: consoleMessage(language, why), body, path: '/console' });
}

/**
 * What a console page shows when it cannot be served: the database out of reach (503) or an
 * error of ours (500, with the request id to quote). Without the bar: who is signed in may be
 * what could not be read.
 */
export function renderTroublePage(language: CheckoutLanguage, trouble: 'database' | 'error', options: { path: string; reference: string }): string {
  const body = `<main id="trouble" class="narrow" data-trouble="${trouble}">
<p class="brand">ClinicPay</p>
<h1>${t(language, trouble === 'database' ? 'trouble_database' : 'trouble_error')}</h1>
<p>${t(language, trouble === 'database' ? 'trouble_database_detail' : 'trouble_error_detail', { reference: options.reference })}</p>
<p><a class="button" href="${escapeHtml(options.path)}">${t(language, 'try_again')}</a></p>
</main>`;
  return shell({ language, title: consoleMessage(language, trouble === 'database' ? 'trouble_database' : 'trouble_error'), body, path: options.path });
}

export function renderSignedOutPage(language: CheckoutLanguage): string {
  const body = `<main id="signed-out" class="narrow">
<p class="brand">ClinicPay</p>
<h1>${t(language, 'signed_out_title')}</h1>
<p>${t(language, 'signed_out_detail')}</p>
<p><a class="button" href="/auth/sign-in?lang=${language}">${t(language, 'sign_in_again')}</a></p>
</main>`;
  return shell({ language, title: consoleMessage(language, 'signed_out_title'), body, path: '/auth/signed-out' });
}

export interface ConsoleView extends StaffPerson {
  email: string | null;
  expiresAt: Date;
  passkeys: { id: string; name: string; created_at: Date }[];
}

/** The console's first page: who is signed in, what their role may do, their passkeys, and sign-out. */
export function renderConsolePage(language: CheckoutLanguage, view: ConsoleView): string {
  const abilities = ROLE_ABILITIES[view.role].map((key) => `<li>${t(language, key)}</li>`).join('');
  const passkeys =
    view.passkeys.length === 0
      ? `<p id="no-passkeys">${t(language, 'no_passkeys')}</p>`
      : `<ul id="passkey-list">${view.passkeys
          .map((key) => `<li>${escapeHtml(key.name)} <small>${t(language, 'passkey_added_on', { time: formatTime(key.created_at, language) })}</small></li>`)
          .join('')}</ul>`;
  const body = `<main id="console" data-role="${view.role}">
<h1>${t(language, 'console_title')}</h1>
<section aria-labelledby="who"><h2 id="who">${t(language, 'signed_in_as', { name: view.name })}</h2>
<dl class="facts">
<dt>${t(language, 'role')}</dt><dd id="role">${escapeHtml(ROLE_NAMES[language][view.role])}</dd>
<dt>${t(language, 'clinic')}</dt><dd id="clinic">${view.clinicId === null ? t(language, 'all_clinics') : `<code>${escapeHtml(view.clinicId)}</code>`}</dd>
<dt>${t(language, 'session_ends')}</dt><dd>${escapeHtml(formatTime(view.expiresAt, language))}</dd>
</dl></section>
<section aria-labelledby="abilities"><h2 id="abilities">${t(language, 'you_can')}</h2><ul id="ability-list">${abilities}</ul></section>
<section aria-labelledby="passkeys-title" id="passkeys"><h2 id="passkeys-title">${t(language, 'passkeys')}</h2>
<p>${t(language, 'passkeys_intro')}</p>
${passkeys}
<p class="actions"><button type="button" class="button" id="add-passkey" hidden>${t(language, 'add_passkey')}</button>
<button type="button" class="button secondary" id="confirm-passkey" hidden>${t(language, 'confirm_passkey')}</button></p>
<p id="passkey-status" role="status" aria-live="polite"></p>
<noscript><p>${t(language, 'needs_script')}</p></noscript>
</section>
</main>`;
  return shell({
    language,
    person: view,
    title: consoleMessage(language, 'console_title'),
    body,
    path: '/console',
    scripts: ['/console/assets/webauthn.js', '/console/assets/console.js'],
    data: { csrf_token: view.csrfToken, messages: scriptMessages(language) },
  });
}
