import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../platform/html.js';
import { formatMoney, formatTime } from './pages.js';

describe('checkout formatting', () => {
  it('formats money from its exact decimal text in each language', () => {
    expect(formatMoney('880.00', 'HKD', 'en')).toBe('HK$880.00');
    expect(formatMoney('1234567.89', 'HKD', 'zh-HK')).toMatch(/^HK\$1,234,567\.89$/);
    // Past what a float holds exactly: every digit survives.
    expect(formatMoney('90071992547409.93', 'HKD', 'en')).toBe('HK$90,071,992,547,409.93');
    expect(formatMoney('810.74', 'CNY', 'zh-CN')).toBe('¥810.74');
  });

  it('shows times in Hong Kong time, whatever the server runs in', () => {
    const time = new Date('2026-11-27T16:30:00Z'); // 00:30 the next day in Hong Kong
    expect(formatTime(time, 'en')).toMatch(/^28 Nov 2026, 12:30\s?am HKT$/i);
    expect(formatTime(time, 'zh-HK')).toContain('2026年11月28日');
    expect(formatTime(time, 'zh-CN')).toContain('2026年11月28日');
  });

  it('escapes everything HTML treats specially', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});
