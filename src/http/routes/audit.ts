import type { FastifyInstance } from 'fastify';
import { verifyAuditLog } from '../../engine/audit-log.ts';
import type { AuditEntry, Page as StorePage } from '../../store/port.ts';
import { AuditEntryView, AuditListQuery, AuditVerifyView } from '../event-schemas.ts';
import { auditEntryView } from '../event-views.ts';
import { errorResponses, Page } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['audit'];

/**
 * Ends a page early once its entries' data passes `max` characters (the first entry always
 * comes): an entry records a whole batch, so a page of `limit` of them could run to tens of
 * MiB. The cursor is unchanged: has_more says there is more, starting after the last seq.
 */
export function withinDataChars<T extends AuditEntry>(page: StorePage<T>, max: number): StorePage<T> {
  let chars = 0;
  for (const [i, entry] of page.data.entries()) {
    chars += entry.data_json.length;
    if (chars > max && i > 0) return { data: page.data.slice(0, i), has_more: true };
  }
  return page;
}

/** The hash-chained audit log (admin only): read it, and check every chain. */
export async function auditRoutes(
  base: FastifyInstance,
  deps: RouteDeps & { page_data_chars_max: number },
): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { store } = deps.engine;

  app.get(
    '/v1/audit',
    {
      schema: {
        tags,
        summary:
          'Audit entries of every chain, newest first; starting_after is a seq. A page ends early (has_more: true) once its entries carry 1 MiB of data',
        querystring: AuditListQuery,
        response: { 200: Page(AuditEntryView), ...errorResponses },
      },
    },
    async (request) =>
      pageView(withinDataChars(await store.listAudit(request.query), deps.page_data_chars_max), auditEntryView),
  );

  app.get(
    '/v1/audit/verify',
    {
      schema: {
        tags,
        summary: 'Walk every audit chain: links, hashes, order and heads; first_bad_seq is a global seq',
        response: { 200: AuditVerifyView, ...errorResponses },
      },
    },
    async () => {
      const check = await verifyAuditLog(store);
      return {
        ok: check.ok,
        entries: check.entries,
        chains: check.chains,
        first_bad_seq: check.first_bad_seq,
        bad_chain: check.bad_chain,
      };
    },
  );
}
