import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';

describe('createLogger', () => {
  it('writes one JSON object per line and redacts secrets and patient text wherever they sit', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.info(
      {
        authorization: 'Bearer abc.def.ghi',
        clinic: { webhook_secret: 'whsec_123', name: 'Harbour Clinic' },
        deep: { invoice: { description: 'chest x-ray', private_key: '0xdeadbeef' } },
        mnemonic: 'test test test',
      },
      'event',
    );
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry.msg).toBe('event');
    expect(entry.clinic.name).toBe('Harbour Clinic');
    for (const secret of ['abc.def.ghi', 'whsec_123', 'chest x-ray', '0xdeadbeef', 'test test test']) {
      expect(lines[0]).not.toContain(secret);
    }
  });
});
