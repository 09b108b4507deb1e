import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { makeDigest } from '../../engine/audit-digest.ts';
import { nextTurn, verifyAuditLog } from '../../engine/audit-log.ts';
import type { Store } from '../../store/port.ts';
import { AuditDigestView, AuditEntryView, AuditListQuery, AuditVerifyView } from '../event-schemas.ts';
import { auditEntryView } from '../event-views.ts';
import { errorResponses, Page, pageBytesNote } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { pageView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const tags = ['audit'];

/** The hash-chained audit log: read it, and check every chain (read scope: API.md's `read` is every GET). */
export async function auditRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { store } = deps.engine;
  // Single flight: a call that arrives while a run is in progress gets that run's answer (its
  // snapshot was taken a little before the call), so parallel calls cost one walk, not one each.
  let running: Promise<AuditVerifyWire> | null = null;
  const verify = (): Promise<AuditVerifyWire> => {
    running ??= verifyAudit(store).finally(() => {
      running = null;
    });
    return running;
  };

  app.get(
    '/v1/audit',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: `Audit entries of every chain, newest first; starting_after is a seq. ${pageBytesNote('entries')}`,
        querystring: AuditListQuery,
        response: { 200: Page(AuditEntryView), ...errorResponses },
      },
    },
    async (request) =>
      pageView(await store.listAudit({ ...request.query, page_bytes_max: deps.page_bytes_max }), auditEntryView),
  );

  app.get(
    '/v1/audit/verify',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary: 'Walk every audit chain: links, hashes, order and heads; first_bad_seq is a global seq',
        response: { 200: AuditVerifyView, ...errorResponses },
      },
    },
    () => verify(),
  );

  app.get(
    '/v1/audit/digest',
    {
      config: { scopes: ['read'] },
      schema: {
        tags,
        summary:
          'The head of every audit chain now, and one sha256 over its date and them. Keep the digest value outside the database; `vouchsafe verify --digest <file> --expect <digest>` then finds any chain that no longer holds its link (a chain rewritten and hashed again, or deleted with its campaign)',
        response: { 200: AuditDigestView, ...errorResponses },
      },
    },
    async () => makeDigest(await store.auditHeads(), deps.engine.now()),
  );
}

type AuditVerifyWire = Static<typeof AuditVerifyView>;

/**
 * One snapshot, as vouchsafe verify reads: a batch committing between the reads of a chain, its
 * campaign row and its coupons must not look like tampering. Read apart from the server's own
 * connection, the walk yields to the event loop between chains, so the server goes on answering
 * (and committing) meanwhile.
 */
async function verifyAudit(store: Store): Promise<AuditVerifyWire> {
  const check = await store.readSnapshotApart((reader, apart) =>
    verifyAuditLog(reader, undefined, undefined, undefined, apart ? nextTurn : undefined),
  );
  return {
    ok: check.ok,
    entries: check.entries,
    chains: check.chains,
    first_bad_seq: check.first_bad_seq,
    bad_chain: check.bad_chain,
  };
}
