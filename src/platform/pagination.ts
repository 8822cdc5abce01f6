/**
 * Cursor pagination, newest first, over `(created_at, id)`: stable under concurrent inserts,
 * and each page costs one index range scan however deep it is.
 */
import type { Knex } from 'knex';
import { ValidationError } from './errors.js';

export const DEFAULT_PAGE_SIZE = 10;

export interface PageRequest {
  limit: number;
  /** Id of the last object of the previous page: the next page starts after it (older). */
  startingAfter?: string;
  /** Id of the first object of the previous page: the page before it (newer). */
  endingBefore?: string;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

/** The page a list request asks for, from its validated query (`limit`, `starting_after`, `ending_before`). */
export function pageRequestFrom(query: Record<string, unknown>): PageRequest {
  return {
    limit: (query.limit as number | undefined) ?? DEFAULT_PAGE_SIZE,
    ...(query.starting_after === undefined ? {} : { startingAfter: query.starting_after as string }),
    ...(query.ending_before === undefined ? {} : { endingBefore: query.ending_before as string }),
  };
}

/**
 * Applies the cursor to `query` and runs it. The cursor object is looked up in `anchors` (the
 * same table, confined as the list is): one outside it is a 400, like an unknown id.
 */
export async function keysetPage<T>(query: Knex.QueryBuilder, page: PageRequest, anchors: Knex.QueryBuilder): Promise<Page<T>> {
  if (page.startingAfter !== undefined && page.endingBefore !== undefined) {
    throw new ValidationError('Use starting_after or ending_before, not both.', 'ending_before');
  }
  const cursorId = page.startingAfter ?? page.endingBefore;
  const backwards = page.endingBefore !== undefined;
  if (cursorId !== undefined) {
    const anchor = (await anchors.where({ id: cursorId }).first('created_at', 'id')) as { created_at: Date; id: string } | undefined;
    if (!anchor) throw new ValidationError(`No object with id ${cursorId} to page from.`, backwards ? 'ending_before' : 'starting_after');
    query.whereRaw(backwards ? '(created_at, id) > (?, ?)' : '(created_at, id) < (?, ?)', [anchor.created_at, anchor.id]);
  }
  const direction = backwards ? 'asc' : 'desc';
  const rows = (await query
    .orderBy([
      { column: 'created_at', order: direction },
      { column: 'id', order: direction },
    ])
    .limit(page.limit + 1)) as T[];
  const hasMore = rows.length > page.limit;
  const data = rows.slice(0, page.limit);
  return { data: backwards ? data.reverse() : data, hasMore };
}
