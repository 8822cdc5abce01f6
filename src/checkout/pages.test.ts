import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../platform/html.js';
import { chooseTokenOption } from './checkoutView.js';
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

describe('the token the patient chose', () => {
  const options = [{ address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }, { address: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' }];

  it('is the option of that address in any letter case, else the first (the pricing token)', () => {
    expect(chooseTokenOption(options, '0xe7f1725e7734ce288f8367e1bb143e90bb3f0512')).toBe(options[1]);
    expect(chooseTokenOption(options, '0xE7F1725E7734CE288F8367E1BB143E90BB3F0512')).toBe(options[1]);
    for (const requested of [undefined, '', 'bogus', '0x0000000000000000000000000000000000000001', ['0xe7f1725e7734ce288f8367e1bb143e90bb3f0512'], { a: 1 }])
      expect(chooseTokenOption(options, requested)).toBe(options[0]);
  });
});
