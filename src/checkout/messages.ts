/**
 * Every word the patient reads, in Traditional Chinese (Hong Kong), Simplified Chinese and
 * English, and how the page's language is chosen.
 *
 * Placeholders are `{name}`; the page fills them on the server and the script with the same
 * catalogue (sent with the page as JSON), so a status that changes live reads the same as one
 * rendered first.
 */
export const CHECKOUT_LANGUAGES = ['zh-HK', 'zh-CN', 'en'] as const;
export type CheckoutLanguage = (typeof CHECKOUT_LANGUAGES)[number];

/** The names of the languages, each in itself, for the switcher. */
export const LANGUAGE_NAMES: Record<CheckoutLanguage, string> = { 'zh-HK': '繁體中文', 'zh-CN': '简体中文', en: 'English' };

const en = {
  page_title: 'Pay {clinic} — invoice {number}',
  invoice_number: 'Invoice {number}',
  language: 'Language',
  amount_due: 'Amount due',
  pay_exactly: 'Send exactly',
  reference_title: 'For reference only',
  reference_note: 'Indicative, at {rate} per HKD ({source}, {time}). You pay in HKD.',
  how_to_pay: 'How to pay',
  choose_token: 'Choose a stablecoin',
  tokens_at_par: 'Each of these HKD stablecoins counts at par: 1 token = HK$1. You may pay in any of them.',
  issued_by: 'Issued by {issuer}',
  token_selected: 'Selected',
  scan_qr: 'Scan with your wallet app',
  qr_label: 'QR code of the payment request',
  open_wallet: 'Open in wallet app',
  pay_with_wallet: 'Pay with browser wallet',
  wallet_working: 'Confirm the payment in your wallet…',
  wallet_sent: 'Payment sent. Waiting for the network…',
  wallet_rejected: 'The wallet did not send the payment: {reason}',
  wallet_wrong_chain: 'Switch your wallet to the network with chain ID {chain} and try again.',
  or_send_manually: 'Or send it yourself',
  network: 'Network',
  chain_id: 'chain ID {chain}',
  token: 'Token',
  to_address: 'To this address',
  amount_to_send: 'Amount',
  copy: 'Copy',
  copied: 'Copied',
  items: 'Items',
  item: 'Item',
  quantity: 'Qty',
  price: 'Price',
  total: 'Total',
  due_by: 'Please pay by {time}.',
  amount_paid_title: 'Amount paid',
  paid_on: 'Paid on {time}.',
  status_open: 'Waiting for your payment',
  status_open_detail: 'This page updates by itself when your payment arrives.',
  status_processing: 'Payment received — confirming ({current} of {required})',
  status_processing_detail: 'The network is confirming your payment. You can keep this page open.',
  status_paid: 'Paid',
  status_paid_detail: 'The clinic has received your payment of {amount}. Thank you.',
  status_overpaid: 'Paid — you sent more than was due',
  status_overpaid_detail: 'You sent {paid}; {amount} was due. The clinic will contact you to return the difference.',
  status_underpaid: 'Partly paid',
  status_underpaid_detail: 'Received {paid} of {amount}. Please send the remaining {remaining} to the same address.',
  status_expired: 'This invoice has expired',
  status_expired_detail: 'Please do not pay it. Ask the clinic for a new invoice. If you already paid, keep your transaction hash and contact the clinic.',
  status_void: 'This invoice was cancelled',
  status_void_detail: 'Please do not pay it. Contact the clinic if you have questions.',
  view_receipt: 'View receipt',
  download_receipt: 'Download receipt (PDF)',
  receipt_title: 'Receipt — {clinic}',
  receipt_heading: 'Payment receipt',
  paid_at: 'Paid at',
  paid_amount: 'Amount paid',
  transaction: 'Transaction',
  view_on_explorer: 'View on block explorer',
  back_to_invoice: 'Back to the invoice',
  receipt_note: 'Paid in {symbol}, a stablecoin pegged 1:1 to the Hong Kong dollar, on chain ID {chain}.',
  not_found_title: 'Page not found',
  not_found_detail: 'This payment link is not valid. Please check it with the clinic.',
  live_updates_off: 'Reload the page to see whether your payment has arrived.',
} as const;

export type MessageKey = keyof typeof en;
export type Catalogue = Record<MessageKey, string>;

const zhHK: Catalogue = {
  page_title: '向{clinic}付款 — 發票 {number}',
  invoice_number: '發票 {number}',
  language: '語言',
  amount_due: '應付金額',
  pay_exactly: '請準確轉賬',
  reference_title: '僅供參考',
  reference_note: '參考匯率：每港元 {rate}（{source}，{time}）。以港元付款。',
  how_to_pay: '付款方法',
  choose_token: '選擇穩定幣',
  tokens_at_par: '以下每種港元穩定幣均按面值計算：1 個代幣 = 1 港元。你可用其中任何一種付款。',
  issued_by: '發行人：{issuer}',
  token_selected: '已選',
  scan_qr: '用錢包應用程式掃描',
  qr_label: '付款請求二維碼',
  open_wallet: '在錢包應用程式中打開',
  pay_with_wallet: '用瀏覽器錢包付款',
  wallet_working: '請在錢包中確認付款…',
  wallet_sent: '已送出付款，正在等待網絡確認…',
  wallet_rejected: '錢包未有送出付款：{reason}',
  wallet_wrong_chain: '請將錢包切換到鏈 ID {chain} 的網絡後再試。',
  or_send_manually: '或自行轉賬',
  network: '網絡',
  chain_id: '鏈 ID {chain}',
  token: '代幣',
  to_address: '收款地址',
  amount_to_send: '金額',
  copy: '複製',
  copied: '已複製',
  items: '項目',
  item: '項目',
  quantity: '數量',
  price: '價格',
  total: '總計',
  due_by: '請於 {time} 前付款。',
  amount_paid_title: '已付金額',
  paid_on: '已於 {time} 付款。',
  status_open: '等待付款',
  status_open_detail: '收到付款後，本頁會自動更新。',
  status_processing: '已收到付款，確認中（{current}/{required}）',
  status_processing_detail: '網絡正在確認你的付款，你可以保持本頁開啟。',
  status_paid: '已付款',
  status_paid_detail: '診所已收到你的付款 {amount}。多謝。',
  status_overpaid: '已付款 — 付款多於應付金額',
  status_overpaid_detail: '你付了 {paid}，應付 {amount}。診所會聯絡你退回差額。',
  status_underpaid: '部分付款',
  status_underpaid_detail: '已收到 {paid}（應付 {amount}）。請將餘額 {remaining} 轉到同一地址。',
  status_expired: '此發票已過期',
  status_expired_detail: '請勿付款，並向診所索取新發票。如你已付款，請保留交易哈希並聯絡診所。',
  status_void: '此發票已取消',
  status_void_detail: '請勿付款。如有疑問，請聯絡診所。',
  view_receipt: '查看收據',
  download_receipt: '下載收據（PDF）',
  receipt_title: '收據 — {clinic}',
  receipt_heading: '付款收據',
  paid_at: '付款時間',
  paid_amount: '已付金額',
  transaction: '交易',
  view_on_explorer: '在區塊瀏覽器查看',
  back_to_invoice: '返回發票',
  receipt_note: '以 {symbol} 付款（與港元 1:1 掛鈎的穩定幣），鏈 ID {chain}。',
  not_found_title: '找不到頁面',
  not_found_detail: '此付款連結無效，請向診所查詢。',
  live_updates_off: '請重新載入本頁，查看是否已收到付款。',
};

const zhCN: Catalogue = {
  page_title: '向{clinic}付款 — 发票 {number}',
  invoice_number: '发票 {number}',
  language: '语言',
  amount_due: '应付金额',
  pay_exactly: '请准确转账',
  reference_title: '仅供参考',
  reference_note: '参考汇率：每港元 {rate}（{source}，{time}）。以港元付款。',
  how_to_pay: '付款方式',
  choose_token: '选择稳定币',
  tokens_at_par: '以下每种港元稳定币均按面值计算：1 个代币 = 1 港元。您可用其中任何一种付款。',
  issued_by: '发行人：{issuer}',
  token_selected: '已选',
  scan_qr: '用钱包应用扫描',
  qr_label: '付款请求二维码',
  open_wallet: '在钱包应用中打开',
  pay_with_wallet: '用浏览器钱包付款',
  wallet_working: '请在钱包中确认付款…',
  wallet_sent: '付款已发送，正在等待网络确认…',
  wallet_rejected: '钱包未发送付款：{reason}',
  wallet_wrong_chain: '请将钱包切换到链 ID {chain} 的网络后重试。',
  or_send_manually: '或自行转账',
  network: '网络',
  chain_id: '链 ID {chain}',
  token: '代币',
  to_address: '收款地址',
  amount_to_send: '金额',
  copy: '复制',
  copied: '已复制',
  items: '项目',
  item: '项目',
  quantity: '数量',
  price: '价格',
  total: '合计',
  due_by: '请于 {time} 前付款。',
  amount_paid_title: '已付金额',
  paid_on: '已于 {time} 付款。',
  status_open: '等待付款',
  status_open_detail: '收到付款后，本页会自动更新。',
  status_processing: '已收到付款，确认中（{current}/{required}）',
  status_processing_detail: '网络正在确认您的付款，您可以保持本页打开。',
  status_paid: '已付款',
  status_paid_detail: '诊所已收到您的付款 {amount}。谢谢。',
  status_overpaid: '已付款 — 付款多于应付金额',
  status_overpaid_detail: '您付了 {paid}，应付 {amount}。诊所会联系您退还差额。',
  status_underpaid: '部分付款',
  status_underpaid_detail: '已收到 {paid}（应付 {amount}）。请将余额 {remaining} 转到同一地址。',
  status_expired: '此发票已过期',
  status_expired_detail: '请勿付款，并向诊所索取新发票。如您已付款，请保留交易哈希并联系诊所。',
  status_void: '此发票已取消',
  status_void_detail: '请勿付款。如有疑问，请联系诊所。',
  view_receipt: '查看收据',
  download_receipt: '下载收据（PDF）',
  receipt_title: '收据 — {clinic}',
  receipt_heading: '付款收据',
  paid_at: '付款时间',
  paid_amount: '已付金额',
  transaction: '交易',
  view_on_explorer: '在区块浏览器查看',
  back_to_invoice: '返回发票',
  receipt_note: '以 {symbol} 付款（与港元 1:1 挂钩的稳定币），链 ID {chain}。',
  not_found_title: '找不到页面',
  not_found_detail: '此付款链接无效，请向诊所查询。',
  live_updates_off: '请刷新本页，查看是否已收到付款。',
};

export const CATALOGUES: Record<CheckoutLanguage, Catalogue> = { 'zh-HK': zhHK, 'zh-CN': zhCN, en };

/** Fills `{name}` placeholders of `key` in `language`. */
export function message(language: CheckoutLanguage, key: MessageKey, params: Record<string, string | number> = {}): string {
  return CATALOGUES[language][key].replace(/\{(\w+)\}/g, (whole, name: string) => (params[name] === undefined ? whole : String(params[name])));
}

export function isCheckoutLanguage(value: unknown): value is CheckoutLanguage {
  return typeof value === 'string' && (CHECKOUT_LANGUAGES as readonly string[]).includes(value);
}

/** Traditional script regions (and the script subtag) read zh-HK; other Chinese reads zh-CN. */
function languageOf(tag: string): CheckoutLanguage | undefined {
  const lower = tag.toLowerCase();
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  if (lower === 'zh' || lower.startsWith('zh-')) {
    return /^zh-(hk|mo|tw|hant)(-|$)/.test(lower) ? 'zh-HK' : 'zh-CN';
  }
  return undefined;
}

/**
 * The page's language: `?lang=` when it names one of ours, else the best match of
 * `Accept-Language` by its q-values, else English.
 *
 * @example
 * negotiateLanguage(undefined, 'zh-TW,zh;q=0.9,en;q=0.8') // 'zh-HK'
 */
export function negotiateLanguage(requested: unknown, acceptLanguage: string | undefined): CheckoutLanguage {
  if (isCheckoutLanguage(requested)) return requested;
  const ranges = (acceptLanguage ?? '')
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((param) => /^\s*q=([01](\.\d{0,3})?)\s*$/.exec(param)?.[1]).find((value) => value !== undefined);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((range) => range.q > 0 && range.tag !== '')
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const range of ranges) {
    const language = languageOf(range.tag);
    if (language) return language;
  }
  return 'en';
}
