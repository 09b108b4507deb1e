import { limits } from '../config/limits.ts';
import type { ListQuery, Page } from './port.ts';

/**
 * Every row of a list the store pages by id (`starting_after` the last row's id), in the list's
 * order, one read per page: the caller keeps what it needs, not every page, and may stop early.
 */
export async function* allRows<T extends { id: string }>(
  list: (q: ListQuery) => Promise<Page<T>>,
  page_rows: number = limits.list_limit_max,
): AsyncGenerator<T> {
  let starting_after: string | undefined;
  for (;;) {
    const page = await list({ limit: page_rows, ...(starting_after ? { starting_after } : {}) });
    yield* page.data;
    const last = page.data[page.data.length - 1];
    if (!page.has_more || last === undefined) return;
    starting_after = last.id;
  }
}
