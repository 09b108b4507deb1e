import type { ApiKeyRecord, AuditEntry, IdempotencyRecord, OutboxEvent, Page, SizedListQuery } from '../port.ts';
import { type Db, insertAudit, type Query, queryOn } from './pg-batch.ts';
import { auditFromRow, idemFromRow, int, outboxFromRow, type Row } from './rows.ts';
import { sizedPage } from './sized-page.ts';

/** Runs a body in one transaction, with errors mapped onto the port's. */
export type Write = <T>(body: (db: Db) => Promise<T>) => Promise<T>;
export type MakeAudit = (prev: { seq: number; hash: string }) => AuditEntry;

const genesis = '0'.repeat(64);
/** pg_advisory_xact_lock key that orders appends to the platform chain across processes. */
const platformAuditLockKey = 7_305_002;

/** Runs `body` and appends one platform entry in the same transaction; the advisory lock orders the chain. */
export function withPlatformAudit<T>(
  write: Write,
  make: MakeAudit,
  body: (db: Db) => Promise<T>,
): Promise<{ entry: AuditEntry; value: T }> {
  return write(async (db) => {
    await db.query('SELECT pg_advisory_xact_lock($1)', [platformAuditLockKey]);
    // The head comes from its anchor row, so an entry deleted from the end breaks the next link.
    const head = (await db.query<Row>("SELECT seq, hash FROM audit_heads WHERE chain = 'platform'")).rows[0];
    const prev = head ? { seq: int(head.seq), hash: String(head.hash) } : { seq: 0, hash: genesis };
    const value = await body(db);
    const entry = make(prev);
    await insertAudit(db, [entry]);
    await db.query(
      `INSERT INTO audit_heads (chain, seq, hash) VALUES ('platform', $1, $2)
       ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
      [entry.chain_seq, entry.hash],
    );
    return { entry, value };
  });
}

/** Every chain, newest first by the global seq (the admin audit log); the data cap as sized-page.ts applies it. */
export async function listAudit(q: Query, list: SizedListQuery): Promise<Page<AuditEntry & { seq: number }>> {
  const after = list.starting_after ? Number(list.starting_after) : null;
  const sql = 'SELECT * FROM audit WHERE $1::bigint IS NULL OR seq < $1 ORDER BY seq DESC';
  const page = await sizedPage(q, { sql, args: [after], order: 'seq DESC', size: 'octet_length(data_json)' }, list);
  return { data: page.data.map(auditFromRow), has_more: page.has_more };
}

const apiKeyInsert = `INSERT INTO api_keys (id, name, hash, scopes, created_at_ms, revoked_at_ms, created_by, replaces)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

function apiKeyArgs(k: ApiKeyRecord): unknown[] {
  return [k.id, k.name, k.hash, JSON.stringify(k.scopes), k.created_at_ms, k.revoked_at_ms, k.created_by, k.replaces];
}

export async function insertApiKey(write: Write, k: ApiKeyRecord, audit: MakeAudit): Promise<void> {
  await withPlatformAudit(write, audit, (db) => db.query(apiKeyInsert, apiKeyArgs(k)));
}

const keyExists = new Error('an api key exists');

/**
 * The key only if none exists. Every key insert runs under the platform chain's lock
 * (withPlatformAudit), so none can commit between this transaction's check and its insert.
 */
export async function insertFirstApiKey(write: Write, k: ApiKeyRecord, audit: MakeAudit): Promise<boolean> {
  try {
    await withPlatformAudit(write, audit, async (db) => {
      const found = (await db.query<Row>('SELECT EXISTS (SELECT 1 FROM api_keys) AS taken')).rows[0];
      if (found?.taken === true) throw keyExists;
      await db.query(apiKeyInsert, apiKeyArgs(k));
    });
    return true;
  } catch (err) {
    if (err === keyExists) return false;
    throw err;
  }
}

/** True when the key was live; the attempt is audited either way, as in SQLite. */
export async function revokeApiKey(write: Write, id: string, at_ms: number, audit: MakeAudit): Promise<boolean> {
  const sql = 'UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL';
  const revoke = async (db: Db) => ((await db.query(sql, [at_ms, id])).rowCount ?? 0) > 0;
  return (await withPlatformAudit(write, audit, revoke)).value;
}

export async function getOrCreateSecret(q: Query, name: string, make: () => string): Promise<string> {
  await q('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, make()]);
  const row = (await q('SELECT value FROM secrets WHERE name = $1', [name]))[0];
  if (!row) throw new Error(`secret ${name} vanished`);
  return String(row.value);
}

export async function pendingOutbox(q: Query, limit: number): Promise<OutboxEvent[]> {
  const sql = `SELECT id, type, data, created_at_ms FROM outbox WHERE dispatched_at_ms IS NULL
    ORDER BY created_at_ms, id LIMIT $1`;
  return (await q(sql, [limit])).map(outboxFromRow);
}

export async function markOutboxDispatched(q: Query, ids: string[], at_ms: number): Promise<void> {
  if (ids.length === 0) return;
  const sql = 'UPDATE outbox SET dispatched_at_ms = $1 WHERE id = ANY($2::text[]) AND dispatched_at_ms IS NULL';
  await q(sql, [at_ms, ids]);
}

export async function getIdempotency(q: Query, key: string): Promise<IdempotencyRecord | null> {
  const row = (await q('SELECT key, fingerprint, result, created_at_ms FROM idempotency WHERE key = $1', [key]))[0];
  return row ? idemFromRow(row) : null;
}

/** Deletes up to `limit` records older than `before_ms`, oldest first. */
export function pruneIdempotency(write: Write, before_ms: number, limit: number): Promise<number> {
  const sql = `DELETE FROM idempotency WHERE key IN
    (SELECT key FROM idempotency WHERE created_at_ms < $1 ORDER BY created_at_ms LIMIT $2)`;
  return write(async (db) => (await db.query(sql, [before_ms, limit])).rowCount ?? 0);
}

/** Sets (or with null deletes) the record if its result is still `expected`; true if it did. */
export async function swapIdempotency(
  write: Write,
  key: string,
  expected: unknown,
  next: { result: unknown; created_at_ms: number } | null,
): Promise<boolean> {
  const was = JSON.stringify(expected);
  return write(async (db) => {
    const res =
      next === null
        ? await db.query('DELETE FROM idempotency WHERE key = $1 AND result = $2', [key, was])
        : await db.query('UPDATE idempotency SET result = $1, created_at_ms = $2 WHERE key = $3 AND result = $4', [
            JSON.stringify(next.result),
            next.created_at_ms,
            key,
            was,
          ]);
    return res.rowCount === 1;
  });
}

/**
 * Inserts unless the key exists, then reads back whichever record won. The insert and the read are
 * two statements: a record deleted between them (a claim released) is not this one's to return, so
 * the insert is tried again.
 */
export function putIdempotency(write: Write, rec: IdempotencyRecord): Promise<IdempotencyRecord> {
  const sql = `INSERT INTO idempotency (key, fingerprint, result, created_at_ms) VALUES ($1, $2, $3, $4)
    ON CONFLICT (key) DO NOTHING RETURNING key`;
  // A write, never the read-only snapshot connection; each statement sees what is committed by then.
  return write(async (db) => {
    for (;;) {
      const inserted = await db.query(sql, [rec.key, rec.fingerprint, JSON.stringify(rec.result), rec.created_at_ms]);
      if ((inserted.rowCount ?? 0) > 0) return rec;
      const stored = await getIdempotency(queryOn(db), rec.key);
      if (stored) return stored;
    }
  });
}
