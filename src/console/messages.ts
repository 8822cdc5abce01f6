/**
 * Every word staff read on the sign-in pages and the console, in Traditional Chinese (Hong
 * Kong), Simplified Chinese and English. The language is chosen as on the checkout page.
 */
import type { CheckoutLanguage } from '../checkout/messages.js';
import type { Role } from '../identity/principal.js';

const en = {
  sign_in_title: 'Sign in — ClinicPay',
  sign_in_heading: 'Sign in to ClinicPay',
  sign_in_intro: 'Clinic staff, finance teams and auditors sign in with their organisation’s account.',
  sign_in_button: 'Sign in',
  error_unavailable: 'The sign-in service cannot be reached just now. Try again in a minute. If you are signed in already, you can carry on.',
  error_failed: 'The sign-in could not be completed. Please start again.',
  error_no_access: 'Your account has no access to ClinicPay. Ask your clinic’s administrator to invite you.',
  error_too_many: 'Too many sign-in attempts. Wait a minute and try again.',
  error_not_configured: 'Sign-in is not set up on this gateway. Ask its operator.',
  error_expired: 'Your session has ended. Please sign in again.',
  signed_out_title: 'You have signed out',
  signed_out_detail: 'You have signed out of ClinicPay on this device.',
  sign_in_again: 'Sign in again',
  language: 'Language',
  console_title: 'ClinicPay console',
  signed_in_as: 'Signed in as {name}',
  role: 'Role',
  clinic: 'Clinic',
  all_clinics: 'All clinics',
  session_ends: 'Session ends',
  you_can: 'What you can do here',
  can_bill: 'Create bills and void them',
  can_resolve: 'Resolve payment exceptions and approve refunds',
  can_statements: 'Download statements and verify them',
  can_audit: 'Read the audit log',
  can_admin: 'Manage API keys, webhooks and the settlement wallet',
  can_platform: 'Add clinics and invite people',
  passkeys: 'Passkeys',
  passkeys_intro: 'Approving refunds, settlement-wallet changes and API keys needs a confirmation with your passkey.',
  no_passkeys: 'No passkey yet.',
  passkey_added_on: 'added {time}',
  add_passkey: 'Add a passkey',
  confirm_passkey: 'Confirm with passkey',
  passkey_added: 'Passkey added.',
  confirmed: 'Confirmed. You can approve for the next five minutes.',
  passkey_failed: 'The passkey did not work: {reason}',
  needs_script: 'Passkeys need JavaScript in this browser.',
  sign_out: 'Sign out',
};

type MessageKey = keyof typeof en;
type Catalogue = Record<MessageKey, string>;

const zhHK: Catalogue = {
  sign_in_title: '登入 — ClinicPay',
  sign_in_heading: '登入 ClinicPay',
  sign_in_intro: '診所職員、財務團隊及核數師請以所屬機構的帳戶登入。',
  sign_in_button: '登入',
  error_unavailable: '暫時未能連接登入服務，請一分鐘後再試。已登入的用戶可繼續使用。',
  error_failed: '未能完成登入，請重新開始。',
  error_no_access: '你的帳戶未獲授權使用 ClinicPay，請聯絡診所管理員邀請你。',
  error_too_many: '登入嘗試次數過多，請稍候一分鐘再試。',
  error_not_configured: '此閘道尚未設定登入，請聯絡營運者。',
  error_expired: '你的登入已結束，請重新登入。',
  signed_out_title: '你已登出',
  signed_out_detail: '你已在此裝置登出 ClinicPay。',
  sign_in_again: '重新登入',
  language: '語言',
  console_title: 'ClinicPay 管理台',
  signed_in_as: '已登入：{name}',
  role: '角色',
  clinic: '診所',
  all_clinics: '所有診所',
  session_ends: '登入時段結束',
  you_can: '你可在此',
  can_bill: '開立及作廢帳單',
  can_resolve: '處理付款異常及批核退款',
  can_statements: '下載及核實結單',
  can_audit: '查閱審計紀錄',
  can_admin: '管理 API 密鑰、Webhook 及收款錢包',
  can_platform: '新增診所及邀請用戶',
  passkeys: '通行密鑰',
  passkeys_intro: '批核退款、更改收款錢包及 API 密鑰時，須以你的通行密鑰確認。',
  no_passkeys: '尚未登記通行密鑰。',
  passkey_added_on: '於 {time} 新增',
  add_passkey: '新增通行密鑰',
  confirm_passkey: '以通行密鑰確認',
  passkey_added: '已新增通行密鑰。',
  confirmed: '已確認。接下來五分鐘內可進行批核。',
  passkey_failed: '通行密鑰未能使用：{reason}',
  needs_script: '此瀏覽器須啟用 JavaScript 方可使用通行密鑰。',
  sign_out: '登出',
};

const zhCN: Catalogue = {
  sign_in_title: '登录 — ClinicPay',
  sign_in_heading: '登录 ClinicPay',
  sign_in_intro: '诊所职员、财务团队及审计师请使用所属机构的账户登录。',
  sign_in_button: '登录',
  error_unavailable: '暂时无法连接登录服务，请一分钟后再试。已登录的用户可继续使用。',
  error_failed: '未能完成登录，请重新开始。',
  error_no_access: '你的账户未获授权使用 ClinicPay，请联系诊所管理员邀请你。',
  error_too_many: '登录尝试次数过多，请稍候一分钟再试。',
  error_not_configured: '此网关尚未设置登录，请联系运营者。',
  error_expired: '你的登录已结束，请重新登录。',
  signed_out_title: '你已退出登录',
  signed_out_detail: '你已在此设备退出 ClinicPay。',
  sign_in_again: '重新登录',
  language: '语言',
  console_title: 'ClinicPay 管理台',
  signed_in_as: '已登录：{name}',
  role: '角色',
  clinic: '诊所',
  all_clinics: '所有诊所',
  session_ends: '登录时段结束',
  you_can: '你可在此',
  can_bill: '开立及作废账单',
  can_resolve: '处理付款异常及批准退款',
  can_statements: '下载及核实对账单',
  can_audit: '查阅审计记录',
  can_admin: '管理 API 密钥、Webhook 及收款钱包',
  can_platform: '新增诊所及邀请用户',
  passkeys: '通行密钥',
  passkeys_intro: '批准退款、更改收款钱包及 API 密钥时，须以你的通行密钥确认。',
  no_passkeys: '尚未登记通行密钥。',
  passkey_added_on: '于 {time} 新增',
  add_passkey: '新增通行密钥',
  confirm_passkey: '以通行密钥确认',
  passkey_added: '已新增通行密钥。',
  confirmed: '已确认。接下来五分钟内可进行批准。',
  passkey_failed: '通行密钥未能使用：{reason}',
  needs_script: '此浏览器须启用 JavaScript 方可使用通行密钥。',
  sign_out: '退出登录',
};

const CATALOGUES: Record<CheckoutLanguage, Catalogue> = { 'zh-HK': zhHK, 'zh-CN': zhCN, en };

export type ConsoleMessageKey = MessageKey;

/** Fills `{name}` placeholders of `key` in `language`. */
export function consoleMessage(language: CheckoutLanguage, key: MessageKey, params: Record<string, string | number> = {}): string {
  return CATALOGUES[language][key].replace(/\{(\w+)\}/g, (whole, name: string) => (params[name] === undefined ? whole : String(params[name])));
}

/** The catalogue the console's script reads its words from. */
export function scriptMessages(language: CheckoutLanguage): Pick<Catalogue, 'passkey_added' | 'confirmed' | 'passkey_failed'> {
  const { passkey_added, confirmed, passkey_failed } = CATALOGUES[language];
  return { passkey_added, confirmed, passkey_failed };
}

export const ROLE_NAMES: Record<CheckoutLanguage, Record<Role, string>> = {
  en: { platform_admin: 'Platform administrator', clinic_admin: 'Clinic administrator', clinic_staff: 'Front desk', finance: 'Finance', auditor: 'Auditor' },
  'zh-HK': { platform_admin: '平台管理員', clinic_admin: '診所管理員', clinic_staff: '前台職員', finance: '財務', auditor: '核數師' },
  'zh-CN': { platform_admin: '平台管理员', clinic_admin: '诊所管理员', clinic_staff: '前台职员', finance: '财务', auditor: '审计师' },
};

/** What each role may do, as the console lists it (the API's role checks are what enforce it). */
export const ROLE_ABILITIES: Record<Role, readonly MessageKey[]> = {
  clinic_staff: ['can_bill'],
  clinic_admin: ['can_bill', 'can_admin'],
  finance: ['can_resolve', 'can_statements'],
  auditor: ['can_statements', 'can_audit'],
  platform_admin: ['can_platform', 'can_admin', 'can_audit'],
};
