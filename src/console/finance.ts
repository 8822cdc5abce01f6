/**
 * Finance's dashboard: what came in today and this month, what is open or being confirmed, the
 * exceptions still to work, the last reconciliation, how far the chain watcher is behind, and a
 * chart of daily takings (server-rendered SVG: no script, no library).
 */
import { Decimal } from 'decimal.js';
import type { CheckoutLanguage } from '../checkout/messages.js';
import { formatMoney, formatTime } from '../checkout/pages.js';
import { escapeHtml } from '../platform/html.js';
import { consoleMessage } from './messages.js';
import { type StaffPerson, staffPage, t } from './pages.js';

export interface DashboardView {
  today: string;
  month: string;
  open: { amount: string; count: number };
  processing: { amount: string; count: number };
  /** HKD forwarded to the clinics' wallets (less refunds), and HKD still in deposit addresses. */
  forwarded: string;
  waiting: string;
  /** The last 30 Hong Kong days, oldest first, every day present. */
  days: { day: string; amount: string }[];
  exceptions: { type: string; status: string; count: number }[];
  lastRun: { status: string; createdAt: Date; finishedAt: Date | null; exceptions: number } | null;
  /** Blocks the watcher is behind the head; null when the node cannot be asked. */
  watcherLag: number | null;
}

const CHART = { width: 720, height: 180, top: 16, bottom: 28 };

/** The daily takings as bars, each with its day and amount as a tooltip and in the accessible name. */
export function takingsChart(language: CheckoutLanguage, days: readonly { day: string; amount: string }[]): string {
  const max = Decimal.max(new Decimal(0), ...days.map((day) => new Decimal(day.amount)));
  const plot = CHART.height - CHART.top - CHART.bottom;
  const step = CHART.width / Math.max(days.length, 1);
  const bars = days
    .map((day, index) => {
      const value = new Decimal(day.amount);
      const height = max.isZero() ? 0 : value.div(max).times(plot).toNumber();
      const label = `${day.day}: ${formatMoney(day.amount, 'HKD', language)}`;
      return `<rect x="${(index * step + step * 0.15).toFixed(1)}" y="${(CHART.top + plot - height).toFixed(1)}" width="${(step * 0.7).toFixed(1)}" height="${Math.max(height, value.isZero() ? 0 : 1).toFixed(1)}" class="bar"><title>${escapeHtml(label)}</title></rect>`;
    })
    .join('');
  const first = days[0]?.day ?? '';
  const last = days.at(-1)?.day ?? '';
  const summary = consoleMessage(language, 'chart_summary', { from: first, to: last, max: formatMoney(max.toFixed(2), 'HKD', language) });
  return `<svg class="chart" viewBox="0 0 ${CHART.width} ${CHART.height}" role="img" aria-label="${escapeHtml(summary)}" xmlns="http://www.w3.org/2000/svg">
<line x1="0" y1="${CHART.top + plot}" x2="${CHART.width}" y2="${CHART.top + plot}" class="axis"/>
${bars}
<text x="0" y="${CHART.height - 8}" class="label">${escapeHtml(first)}</text>
<text x="${CHART.width}" y="${CHART.height - 8}" class="label" text-anchor="end">${escapeHtml(last)}</text>
<text x="0" y="12" class="label">${escapeHtml(formatMoney(max.toFixed(2), 'HKD', language))}</text>
</svg>`;
}

export function renderDashboardPage(language: CheckoutLanguage, person: StaffPerson, view: DashboardView): string {
  const money = (amount: string) => escapeHtml(formatMoney(amount, 'HKD', language));
  const card = (id: string, title: string, value: string, note = '') =>
    `<div class="card" id="${id}"><h2>${title}</h2><p class="figure">${value}</p>${note === '' ? '' : `<p class="note">${note}</p>`}</div>`;
  const exceptions =
    view.exceptions.length === 0
      ? `<p id="no-exceptions">${t(language, 'no_exceptions')}</p>`
      : `<table id="exception-counts"><thead><tr><th scope="col">${t(language, 'exception_type')}</th><th scope="col">${t(language, 'status')}</th><th scope="col" class="num">${t(language, 'count')}</th></tr></thead><tbody>${view.exceptions
          .map((row) => `<tr><td><code>${escapeHtml(row.type)}</code></td><td>${escapeHtml(row.status)}</td><td class="num">${row.count}</td></tr>`)
          .join('')}</tbody></table>`;
  const run = view.lastRun
    ? `<p id="last-run" data-status="${escapeHtml(view.lastRun.status)}">${t(language, 'last_run', {
        status: view.lastRun.status,
        time: formatTime(view.lastRun.finishedAt ?? view.lastRun.createdAt, language),
        exceptions: view.lastRun.exceptions,
      })}</p>`
    : `<p id="last-run">${t(language, 'no_run')}</p>`;
  const lag = view.watcherLag === null ? t(language, 'watcher_unknown') : t(language, 'watcher_lag', { blocks: view.watcherLag });
  const body = `<main id="dashboard">
<h1>${t(language, 'dashboard_title')}</h1>
<div class="cards">
${card('takings-today', t(language, 'takings_today'), money(view.today))}
${card('takings-month', t(language, 'takings_month'), money(view.month))}
${card('open-amount', t(language, 'open_bills'), money(view.open.amount), t(language, 'bills_count', { count: view.open.count }))}
${card('processing-amount', t(language, 'confirming_bills'), money(view.processing.amount), t(language, 'bills_count', { count: view.processing.count }))}
${card('forwarded-amount', t(language, 'forwarded'), money(view.forwarded), t(language, 'forwarded_note'))}
${card('waiting-amount', t(language, 'waiting_forward'), money(view.waiting), t(language, 'waiting_note'))}
</div>
<section aria-labelledby="chart-title"><h2 id="chart-title">${t(language, 'daily_takings')}</h2>${takingsChart(language, view.days)}</section>
<section aria-labelledby="exceptions-title"><h2 id="exceptions-title">${t(language, 'exceptions_to_work')}</h2>${exceptions}</section>
<section aria-labelledby="health-title"><h2 id="health-title">${t(language, 'checks')}</h2>${run}<p id="watcher">${lag}</p></section>
</main>`;
  return staffPage({ language, person, title: consoleMessage(language, 'dashboard_title'), body, path: '/console/finance' });
}
