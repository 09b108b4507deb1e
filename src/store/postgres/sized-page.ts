import type { Page, SizedListQuery } from '../port.ts';
import type { Query } from './pg-batch.ts';
import type { Row } from './rows.ts';

/**
 * A page of `newest` (a query of rows newest first by `order`, without a LIMIT; its parameters
 * are `args`): at most `limit` rows, and past the first none that would take the sum of `size`
 * (a byte count of a column it selects) over `page_bytes_max`. The cap is applied in the query,
 * so rows past it never leave the server.
 */
export async function sizedPage(
  q: Query,
  newest: { sql: string; args: unknown[]; order: string; size: string },
  list: SizedListQuery,
): Promise<Page<Row>> {
  const limit = `$${newest.args.length + 1}`;
  const bytes_max = `$${newest.args.length + 2}::bigint`;
  const sql = `SELECT * FROM (
      SELECT *, ROW_NUMBER() OVER w AS page_row_no, SUM(${newest.size}) OVER w AS page_bytes_through,
        COUNT(*) OVER () AS page_rows_read
      FROM (${newest.sql} LIMIT ${limit}) newest
      WINDOW w AS (ORDER BY ${newest.order})
    ) page
    WHERE page_row_no < ${limit} AND (page_row_no = 1 OR ${bytes_max} IS NULL OR page_bytes_through <= ${bytes_max})
    ORDER BY ${newest.order}`;
  const rows = await q(sql, [...newest.args, list.limit + 1, list.page_bytes_max ?? null]);
  return { data: rows, has_more: Number(rows[0]?.page_rows_read ?? 0) > rows.length };
}
