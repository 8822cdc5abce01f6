import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_KEY_RETENTION_HOURS, purgeIdempotencyKeys } from '../src/http/idempotency.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

describe('idempotency key retention', () => {
  it('keeps keys for at least 24 hours and removes only those past the retention window', async () => {
    expect(IDEMPOTENCY_KEY_RETENTION_HOURS).toBeGreaterThanOrEqual(24);
    const now = new Date('2026-11-27T12:00:00Z');
    const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3600_000);
    const key = (name: string, createdAt: Date) => ({
      scope: 'clinic_admin|alice|clin_x',
      key: name,
      fingerprint: 'f',
      method: 'POST',
      path: '/v1/invoices',
      response_status: 201,
      response_content_type: 'application/json',
      response_body: '{}',
      created_at: createdAt,
    });
    await database
      .db('idempotency_keys')
      .insert([
        key('fresh', hoursAgo(1)),
        key('a-day-old', hoursAgo(25)),
        key('just-inside', hoursAgo(IDEMPOTENCY_KEY_RETENTION_HOURS - 1)),
        key('expired', hoursAgo(IDEMPOTENCY_KEY_RETENTION_HOURS + 1)),
      ]);
    expect(await purgeIdempotencyKeys(database.db, now)).toBe(1);
    expect((await database.db('idempotency_keys').pluck('key')).sort()).toEqual(['a-day-old', 'fresh', 'just-inside']);
  });
});
