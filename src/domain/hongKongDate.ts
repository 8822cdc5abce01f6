/** Hong Kong has kept UTC+8 without daylight saving since 1979. */
const HONG_KONG_OFFSET_MS = 8 * 3600_000;

/**
 * The calendar date in Hong Kong at `instant`, `YYYY-MM-DD`: the day statements, receipts and
 * FHIR dates are reckoned in.
 *
 * @example hongKongDate(new Date('2026-03-01T16:00:00Z')) // '2026-03-02'
 */
export function hongKongDate(instant: Date): string {
  return new Date(instant.getTime() + HONG_KONG_OFFSET_MS).toISOString().slice(0, 10);
}

/**
 * The instant the Hong Kong day of `instant` began (midnight, UTC+8): where "today's" bills start.
 *
 * @example hongKongDayStart(new Date('2026-03-01T16:30:00Z')) // 2026-03-01T16:00:00.000Z
 */
export function hongKongDayStart(instant: Date): Date {
  return new Date(`${hongKongDate(instant)}T00:00:00+08:00`);
}
