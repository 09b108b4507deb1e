import type { Page, SizedListQuery } from '../port.ts';

/**
 * A page of newest-first rows read one at a time (`iterate()` of a query with `LIMIT limit + 1`):
 * at most `limit`, and past the first none that would take the page's bytes over
 * `page_bytes_max`. At most one row past the page is read into memory.
 */
export function sizedPage<R>(rows: Iterable<R>, q: SizedListQuery, bytesOf: (row: R) => number): Page<R> {
  const max = q.page_bytes_max ?? Number.POSITIVE_INFINITY;
  const data: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    bytes += bytesOf(row);
    if (data.length === q.limit || (data.length > 0 && bytes > max)) return { data, has_more: true };
    data.push(row);
  }
  return { data, has_more: false };
}

/** A stored JSON text column's size in UTF-8 bytes. */
export function textBytes(text: unknown): number {
  return Buffer.byteLength(String(text), 'utf8');
}
