import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { limits } from '../../config/limits.ts';
import type { Campaign, CampaignStatus } from '../../domain/campaign.ts';
import type { Coupon } from '../../domain/coupon.ts';
import { asError } from '../../domain/errors.ts';
import type { Alert, Breakdown, Incident, IncidentStatus } from '../../domain/incident.ts';
import type { KeyOrigin } from '../../domain/key-lineage.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import {
  type ApiKeyRecord,
  type AuditEntry,
  type BatchDecide,
  type BatchItem,
  type BatchLoad,
  type BatchSnapshot,
  type BatchWrites,
  type CampaignBudget,
  type ExposureRow,
  type ExposureSnapshot,
  type IdempotencyRecord,
  type ListQuery,
  type OutboxEvent,
  type Page,
  type RedemptionQuery,
  releasedUnsummedSql,
  type SizedListQuery,
  type Store,
  UniqueViolation,
  type UsageKey,
} from '../port.ts';
import type { ChainHeadRef } from '../port-audit.ts';
import type { CouponClass, CouponFacts, RedemptionFit, UnredeemedThrough } from '../port-coupon-checks.ts';
import type { DeliveryAttempt, DeliveryRecord, FanOut, MakePlatformAudit, WebhookRecord } from '../port-events.ts';
import type { IncidentLease, IncidentMember, IncidentReportRow, ScopeFilter } from '../port-incidents.ts';
import type { PacketCheck, RedEnvelopeRow, StoredRedEnvelopeRow } from '../port-red-envelopes.ts';
import { type MigrationState, migrationState, NewerSchema } from '../schema-version.ts';
import { SqliteCampaignChange } from './campaign-change.ts';
import { BackgroundCheckpointer } from './checkpointer.ts';
import { SqliteCouponChecks } from './coupon-checks.ts';
import { SqliteEvents } from './events.ts';
import { SqliteIncidents } from './incidents.ts';
import { SqliteRedEnvelopes } from './red-envelopes.ts';
import { migrations } from './schema.ts';
import { sizedPage, textBytes } from './sized-page.ts';
import { readSnapshot } from './snapshot.ts';

type Row = Record<string, unknown>;
type ChainHead = { seq: number; hash: string };

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** FULL makes every commit durable (fsync); NORMAL may lose the last commits on power loss. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
  /** Run WAL checkpoints on a worker thread instead of inside commits (see BackgroundCheckpointer). */
  background_checkpoint?: boolean;
  /** A read-only connection to an existing, migrated file (readSnapshotApart's reader). */
  readonly?: boolean;
}

const genesis = '0'.repeat(64);
const couponCols =
  'id, campaign_id, user_id, code, kind, status, expires_at_ms, created_at_ms, updated_at_ms, value_minor';
const redemptionCols =
  'id, campaign_id, coupon_id, user_id, merchant_id, order_id, order_amount_minor, currency, product_kind, discount_minor, status, hold_expires_at_ms, device_id, ip, created_at_ms, updated_at_ms';

/** Column values in column order; written out so the hot insert path stays monomorphic. */
const couponValues = (c: Coupon): unknown[] => [
  c.id,
  c.campaign_id,
  c.user_id,
  c.code,
  c.kind,
  c.status,
  c.expires_at_ms,
  c.created_at_ms,
  c.updated_at_ms,
  c.value_minor ?? null,
];
const redemptionValues = (r: Redemption): unknown[] => [
  r.id,
  r.campaign_id,
  r.coupon_id,
  r.user_id,
  r.merchant_id,
  r.order_id,
  r.order_amount_minor,
  r.currency,
  r.product_kind,
  r.discount_minor,
  r.status,
  r.hold_expires_at_ms,
  r.device_id,
  r.ip,
  r.created_at_ms,
  r.updated_at_ms,
];
/** Rows per multi-row INSERT: fewer statement executions, well under SQLite's bound-parameter limit. */
const rowsPerInsert = 32;

type MultiInsert = { one: Database.Statement; many: Database.Statement };

/**
 * Prepared statements are reused by SQL text: preparing costs more than running a
 * point query, and every query here comes from a finite set of texts.
 */
function memoizePrepare(db: Database.Database): void {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  }) as typeof db.prepare;
}

/**
 * The database holds webhook secrets, coupon codes and key hashes: a new one is made readable by
 * its owner only (0600; SQLite gives its -wal and -shm files the database file's mode), in a
 * directory made 0700. An existing file or directory keeps the mode it has.
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** The embedded store: better-sqlite3 in WAL mode; one writer, so transactions serialize. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<SqliteStore['prepareAll']>;
  private readonly couponInserts: MultiInsert;
  private readonly redemptionInserts: MultiInsert;
  private readonly events: SqliteEvents;
  private readonly envelopes: SqliteRedEnvelopes;
  private readonly incidents: SqliteIncidents;
  private readonly change: SqliteCampaignChange;
  private readonly couponChecks: SqliteCouponChecks;
  private readonly checkpointer: BackgroundCheckpointer | null = null;
  private readonly path: string;

  constructor(opts: SqliteOptions) {
    this.path = opts.path;
    if (opts.readonly) this.db = new Database(opts.path, { readonly: true, fileMustExist: true });
    else {
      if (opts.path !== ':memory:') createPrivately(opts.path);
      this.db = new Database(opts.path);
    }
    memoizePrepare(this.db);
    if (!opts.readonly) this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache: the redemption indexes of millions of rows stay in memory.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('foreign_keys = OFF');
    if (!opts.readonly) {
      try {
        this.migrateSync();
      } catch (err) {
        this.db.close();
        throw err;
      }
    }
    if (opts.background_checkpoint && opts.path !== ':memory:' && !opts.readonly) {
      // Checkpoints move to a worker thread; the writer's own only bounds the WAL (32 MiB).
      this.db.pragma('wal_autocheckpoint = 8000');
      this.checkpointer = new BackgroundCheckpointer(opts.path);
    }
    this.stmt = this.prepareAll();
    this.couponInserts = this.multiInsert('coupons', couponCols);
    this.redemptionInserts = this.multiInsert('redemptions', redemptionCols);
    this.events = new SqliteEvents(this.db, (make, body) => this.withPlatformAudit(make, body));
    this.envelopes = new SqliteRedEnvelopes(this.db);
    this.incidents = new SqliteIncidents(this.db, (make, body) => this.withPlatformAudit(make, body));
    this.change = new SqliteCampaignChange(this.db);
    this.couponChecks = new SqliteCouponChecks(this.db);
  }

  private multiInsert(table: string, cols: string): MultiInsert {
    const row = `(${cols
      .split(', ')
      .map(() => '?')
      .join(', ')})`;
    const sql = (n: number) => `INSERT INTO ${table} (${cols}) VALUES ${Array(n).fill(row).join(', ')}`;
    return { one: this.db.prepare(sql(1)), many: this.db.prepare(sql(rowsPerInsert)) };
  }

  /** Inserts rows 32 at a time. */
  private insertMany<T>(ins: MultiInsert, values: (row: T) => unknown[], rows: readonly T[]): void {
    let i = 0;
    for (; i + rowsPerInsert <= rows.length; i += rowsPerInsert) {
      const args: unknown[] = [];
      for (let j = i; j < i + rowsPerInsert; j++) args.push(...values(rows[j] as T));
      ins.many.run(args);
    }
    for (; i < rows.length; i++) ins.one.run(values(rows[i] as T));
  }

  private migrateSync(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS migrations_applied (id TEXT PRIMARY KEY, applied_at_ms INTEGER NOT NULL)');
    const apply = this.db.transaction(() => {
      const { unapplied, newer } = this.schemaState();
      if (newer.length > 0) throw new NewerSchema(newer);
      for (const m of unapplied) {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO migrations_applied (id, applied_at_ms) VALUES (?, ?)').run(m.id, Date.now());
      }
    });
    apply.immediate();
  }

  private prepareAll() {
    const p = (sql: string) => this.db.prepare(sql);
    return {
      campaignGet: p('SELECT doc FROM campaigns WHERE id = ?'),
      campaignBudgets: p(
        `SELECT id, status, json_extract(doc, '$.audit_seq') AS audit_seq, json_extract(doc, '$.budget_minor') AS budget_minor,
          json_extract(doc, '$.reserved_minor') AS reserved_minor, json_extract(doc, '$.spent_minor') AS spent_minor,
          id IN (SELECT value FROM json_each(@ids)) AS asked
        FROM campaigns WHERE status IN ('draft', 'pending_approval', 'active', 'paused') OR asked
        ORDER BY asked DESC, id DESC LIMIT @limit`,
      ),
      campaignInsert: p('INSERT INTO campaigns (id, status, code, created_at_ms, doc) VALUES (?, ?, ?, ?, ?)'),
      // Setting `code` rewrites its unique index entry even when it is unchanged (one more WAL
      // page per commit), so the columns are set only when they change.
      campaignUpdate: p('UPDATE campaigns SET doc = ? WHERE id = ?'),
      campaignColumnsUpdate: p(
        'UPDATE campaigns SET status = @status, code = @code WHERE id = @id AND (status IS NOT @status OR code IS NOT @code)',
      ),
      couponGet: p(`SELECT ${couponCols} FROM coupons WHERE id = ?`),
      couponByCode: p(`SELECT ${couponCols} FROM coupons WHERE code = ?`),
      couponUpdate: p('UPDATE coupons SET status = @status, updated_at_ms = @updated_at_ms WHERE id = @id'),
      couponsRevoke: p(
        "UPDATE coupons SET status = 'revoked', updated_at_ms = ? WHERE campaign_id = ? AND status = 'active'",
      ),
      redemptionGet: p(`SELECT ${redemptionCols} FROM redemptions WHERE id = ?`),
      redemptionUpdate: p(
        'UPDATE redemptions SET status = @status, hold_expires_at_ms = @hold_expires_at_ms, updated_at_ms = @updated_at_ms WHERE id = @id',
      ),
      reservedOfCampaign: p(`SELECT ${redemptionCols} FROM redemptions WHERE campaign_id = ? AND status = 'reserved'`),
      // A usage delta, added to the counter a batch changed (a new key starts at its delta).
      usageAdd: p(
        'INSERT INTO usage (campaign_id, key, count) VALUES (?, ?, ?) ON CONFLICT (campaign_id, key) DO UPDATE SET count = count + excluded.count',
      ),
      usageGet: p('SELECT key, count FROM usage WHERE campaign_id = ? AND key IN (SELECT value FROM json_each(?))'),
      idemGet: p('SELECT key, fingerprint, result, created_at_ms FROM idempotency WHERE key = ?'),
      idemInsert: p(
        'INSERT INTO idempotency (key, fingerprint, result, created_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING',
      ),
      idemInsertStrict: p('INSERT INTO idempotency (key, fingerprint, result, created_at_ms) VALUES (?, ?, ?, ?)'),
      auditInsert: p(
        'INSERT INTO audit (chain, chain_seq, at_ms, actor, action, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      // The head comes from its anchor row, so an entry deleted from the end breaks the next link.
      platformHead: p("SELECT seq AS chain_seq, hash FROM audit_heads WHERE chain = 'platform'"),
      auditHeads: p(
        `SELECT id AS chain, json_extract(doc, '$.audit_seq') AS chain_seq, json_extract(doc, '$.audit_head') AS hash
          FROM campaigns
        UNION ALL SELECT chain, seq, hash FROM audit_heads WHERE chain = 'platform'`,
      ),
      platformHeadSet: p(
        "INSERT INTO audit_heads (chain, seq, hash) VALUES ('platform', ?, ?) ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
      ),
      outboxInsert: p('INSERT INTO outbox (id, type, data, created_at_ms) VALUES (?, ?, ?, ?)'),
    };
  }

  async migrate(): Promise<void> {
    this.migrateSync();
  }

  async pendingMigrations(): Promise<string[]> {
    return this.schemaState().unapplied.map((m) => m.id);
  }

  async newerMigrations(): Promise<string[]> {
    return this.schemaState().newer;
  }

  /** The file's recorded migrations against this build's. */
  private schemaState(): MigrationState<(typeof migrations)[number]> {
    const rows = this.db.prepare('SELECT id FROM migrations_applied').all() as Row[];
    return migrationState(
      rows.map((r) => String(r.id)),
      migrations,
    );
  }

  /**
   * Whether the file at `path` holds a Vouchsafe store (its migrations table), read without
   * changing it: opening a SqliteStore migrates, and would turn any SQLite file into an empty store.
   */
  static holdsStore(path: string): boolean {
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new Error(`cannot open ${path}: ${(err as Error).message}`);
    }
    try {
      const sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations_applied'";
      return db.prepare(sql).get() !== undefined;
    } catch (err) {
      throw new Error(`${path}: ${(err as Error).message}`);
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }

  readSnapshot<T>(fn: () => Promise<T>): Promise<T> {
    return readSnapshot(this.db, fn);
  }

  /**
   * A connection of its own, read-only, for the snapshot: this one keeps committing between
   * `fn`'s reads. An in-memory database cannot be opened twice, so it reads here and cannot yield.
   */
  async readSnapshotApart<T>(fn: (reader: Store, apart: boolean) => Promise<T>): Promise<T> {
    if (this.path === ':memory:') return this.readSnapshot(() => fn(this, false));
    const reader = new SqliteStore({ path: this.path, readonly: true });
    try {
      return await reader.readSnapshot(() => fn(reader, true));
    } finally {
      await reader.close();
    }
  }

  async insertCampaign(
    c: Campaign,
    audit: AuditEntry,
    coupons: Coupon[],
    idem: IdempotencyRecord | null,
  ): Promise<void> {
    try {
      this.db
        .transaction(() => {
          this.stmt.campaignInsert.run(c.id, c.status, c.code, c.created_at_ms, JSON.stringify(c));
          this.insertMany(this.couponInserts, couponValues, coupons);
          this.insertAudit(audit);
          if (idem)
            this.stmt.idemInsertStrict.run(idem.key, idem.fingerprint, JSON.stringify(idem.result), idem.created_at_ms);
        })
        .immediate();
    } catch (err) {
      if (err instanceof Error && 'code' in err && String(err.code).startsWith('SQLITE_CONSTRAINT')) {
        throw new UniqueViolation(err.message);
      }
      throw err;
    }
  }

  async getCampaign(id: string): Promise<Campaign | null> {
    const row = this.stmt.campaignGet.get(id) as Row | undefined;
    return row ? (JSON.parse(String(row.doc)) as Campaign) : null;
  }

  async listCampaigns(q: SizedListQuery & { status?: string | readonly string[] }): Promise<Page<Campaign>> {
    const rows = this.page('campaigns', 'doc', q, q.status ? { status: q.status } : {}, (r) => textBytes(r.doc));
    return { data: rows.data.map((r) => JSON.parse(String(r.doc)) as Campaign), has_more: rows.has_more };
  }

  async campaignIds(): Promise<string[]> {
    return (this.db.prepare('SELECT id FROM campaigns ORDER BY id').all() as Row[]).map((r) => String(r.id));
  }

  async campaignBudgets(q: { ids: string[]; limit: number }): Promise<CampaignBudget[]> {
    const rows = this.stmt.campaignBudgets.all({ ids: JSON.stringify(q.ids), limit: q.limit }) as Row[];
    return rows.map((r) => ({
      id: String(r.id),
      status: String(r.status) as CampaignStatus,
      audit_seq: Number(r.audit_seq),
      budget_minor: Number(r.budget_minor),
      reserved_minor: Number(r.reserved_minor),
      spent_minor: Number(r.spent_minor),
    }));
  }

  async sharedCodes(min_chars: number): Promise<string[]> {
    const sql = 'SELECT code FROM campaigns WHERE code IS NOT NULL AND length(code) >= ?';
    return (this.db.prepare(sql).all(min_chars) as Row[]).map((r) => String(r.code));
  }

  /**
   * Cursor pagination, newest first; ids are time-ordered so `id` orders by creation. `bytesOf`
   * sizes a row for `page_bytes_max` (sized-page.ts).
   */
  private page(
    table: string,
    cols: string,
    q: SizedListQuery,
    where: Record<string, string | readonly string[]>,
    bytesOf: (row: Row) => number = () => 0,
  ): Page<Row> {
    const conds: string[] = [];
    const args: unknown[] = [];
    for (const [k, v] of Object.entries(where)) {
      if (typeof v === 'string') {
        conds.push(`${k} = ?`);
        args.push(v);
      } else {
        conds.push(`${k} IN (${v.map(() => '?').join(', ')})`);
        args.push(...v);
      }
    }
    if (q.starting_after) {
      conds.push('id < ?');
      args.push(q.starting_after);
    }
    const sql = `SELECT ${cols} FROM ${table} ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return sizedPage(this.db.prepare(sql).iterate(...args, q.limit + 1) as IterableIterator<Row>, q, bytesOf);
  }

  async runBatch<R>(campaign_id: string, load: (c: Campaign) => BatchLoad, decide: BatchDecide<R>): Promise<R> {
    const run = this.db.transaction((): R => {
      const snapshot = this.loadSnapshot(campaign_id, load);
      const { writes, result } = decide(snapshot);
      if (writes) this.applyWrites(writes);
      return result;
    });
    return run.immediate();
  }

  /**
   * One durable commit for many campaigns, each isolated: a failing one is answered with its
   * Error and none of its writes stay. Loading and deciding only read, so a failure there leaves
   * nothing to undo, and the first pass runs without a savepoint per campaign (with a hundred
   * campaigns ready at once, a SAVEPOINT and RELEASE each cost ~13% of the CPU). Should a write
   * fail, that pass rolls back whole and the batches run again, each in its own savepoint, so
   * only the failing campaign is refused. Deciding again is safe: the engine's decide is pure
   * apart from fresh ids and codes.
   *
   * Some errors (I/O, disk full, out of memory) make SQLite roll the whole transaction back by
   * itself. Then no batch may go on (it would run outside any transaction, each statement
   * committing on its own): the error rejects every batch of the call, and none is stored.
   */
  async runBatches<R>(items: Array<BatchItem<R>>): Promise<Array<R | Error>> {
    const first = this.db.transaction(
      (): Array<R | Error> =>
        items.map((item) => {
          let decided: ReturnType<BatchItem<R>['decide']>;
          try {
            decided = item.decide(this.loadSnapshot(item.campaign_id, item.load));
          } catch (err) {
            if (!this.db.inTransaction) throw err;
            return asError(err);
          }
          try {
            if (decided.writes) this.applyWrites(decided.writes);
          } catch (err) {
            if (!this.db.inTransaction) throw err;
            throw new WritesFailed(err);
          }
          return decided.result;
        }),
    );
    try {
      return first.immediate();
    } catch (err) {
      if (!(err instanceof WritesFailed)) throw err;
    }
    const one = this.db.transaction((item: BatchItem<R>): R => {
      const { writes, result } = item.decide(this.loadSnapshot(item.campaign_id, item.load));
      if (writes) this.applyWrites(writes);
      return result;
    });
    const isolated = this.db.transaction(
      (): Array<R | Error> =>
        items.map((item) => {
          try {
            return one(item);
          } catch (err) {
            if (!this.db.inTransaction) throw err;
            return asError(err);
          }
        }),
    );
    return isolated.immediate();
  }

  private loadSnapshot(campaign_id: string, loadFor: (c: Campaign) => BatchLoad): BatchSnapshot {
    const row = this.stmt.campaignGet.get(campaign_id) as Row | undefined;
    if (!row) throw new Error(`campaign ${campaign_id} vanished`);
    const campaign = JSON.parse(String(row.doc)) as Campaign;
    const load = loadFor(campaign);
    const snapshot: BatchSnapshot = {
      campaign,
      coupons: new Map(),
      redemptions: new Map(),
      usage: new Map(),
      idempotency: new Map(),
    };
    const addCoupon = (id: string) => {
      if (snapshot.coupons.has(id)) return;
      const c = this.stmt.couponGet.get(id) as Coupon | undefined;
      if (c) snapshot.coupons.set(id, c);
    };
    for (const id of load.coupon_ids) addCoupon(id);
    // The coupon of every loaded redemption comes too: releasing or reversing may return it.
    const addRedemption = (r: Redemption) => {
      snapshot.redemptions.set(r.id, r);
      addCoupon(r.coupon_id);
    };
    for (const id of load.redemption_ids) {
      const r = this.stmt.redemptionGet.get(id) as Redemption | undefined;
      if (r) addRedemption(r);
    }
    if (load.all_reserved) {
      for (const r of this.stmt.reservedOfCampaign.all(campaign_id) as Redemption[]) addRedemption(r);
    }
    this.readUsage(campaign_id, load.usage_keys, snapshot.usage);
    if (load.packets) snapshot.packets = this.envelopes.packets(campaign_id, load.packets);
    if (load.live_max) snapshot.live_max = this.change.liveMax(campaign_id);
    if (load.incidents) snapshot.incidents = this.incidents.fences(campaign_id, load.incidents);
    if (load.pausing_incidents) snapshot.pausing_incidents = this.incidents.pausing(campaign_id);
    if (load.key_origins) snapshot.key_origins = this.keyOrigins();
    if (load.subscribed_types) snapshot.subscribed_types = this.subscribedTypes();
    for (const key of load.idempotency_keys) {
      const rec = this.readIdem(key);
      if (rec) snapshot.idempotency.set(key, rec);
    }
    return snapshot;
  }

  private applyWrites(w: BatchWrites): void {
    const s = this.stmt;
    const c = w.campaign;
    s.campaignUpdate.run(JSON.stringify(c), c.id);
    s.campaignColumnsUpdate.run(c);
    this.insertMany(this.couponInserts, couponValues, w.coupons_insert);
    for (const coupon of w.coupons_update) s.couponUpdate.run(coupon);
    this.insertMany(this.redemptionInserts, redemptionValues, w.redemptions_insert);
    for (const r of w.redemptions_update) s.redemptionUpdate.run(r);
    // One row per statement: a statement that writes several rows keeps a statement journal of
    // every page it changes, and counters keyed by order id (a new key each, over the whole index
    // for random ids) change a page each. Measured at 64 in flight with scattered order ids:
    // 26 against 30 us of CPU per redemption; no difference with sequential ids.
    for (const [key, delta] of w.usage_delta) if (delta !== 0) s.usageAdd.run(c.id, key, delta);
    for (const rec of w.idempotency_insert) this.insertIdem(rec);
    for (const a of w.audit) this.insertAudit(a);
    // A batch's events travel as one outbox row; the dispatcher hands them out one by one.
    const first = w.outbox[0];
    if (first) s.outboxInsert.run(first.id, 'batch', JSON.stringify(w.outbox), first.created_at_ms);
    this.envelopes.applyWrites(w);
    this.incidents.applyWrites(w);
    this.change.applyWrites(w);
    for (const op of w.bulk) {
      if (op.kind === 'revoke_active_coupons') s.couponsRevoke.run(op.at_ms, c.id);
    }
  }

  private insertAudit(a: AuditEntry): void {
    this.stmt.auditInsert.run(
      a.chain,
      a.chain_seq,
      a.at_ms,
      a.actor,
      a.action,
      a.subject,
      a.data_json,
      a.prev_hash,
      a.hash,
    );
  }

  private insertIdem(rec: IdempotencyRecord): void {
    this.stmt.idemInsert.run(rec.key, rec.fingerprint, JSON.stringify(rec.result), rec.created_at_ms);
  }

  private readIdem(key: string): IdempotencyRecord | null {
    const row = this.stmt.idemGet.get(key) as Row | undefined;
    if (!row) return null;
    return {
      key: String(row.key),
      fingerprint: String(row.fingerprint),
      result: JSON.parse(String(row.result)),
      created_at_ms: Number(row.created_at_ms),
    };
  }

  async getCoupon(id: string): Promise<Coupon | null> {
    return (this.stmt.couponGet.get(id) as Coupon | undefined) ?? null;
  }

  async findCouponByCode(code: string): Promise<Coupon | null> {
    return (this.stmt.couponByCode.get(code) as Coupon | undefined) ?? null;
  }

  async getRedemption(id: string): Promise<Redemption | null> {
    return (this.stmt.redemptionGet.get(id) as Redemption | undefined) ?? null;
  }

  async listRedemptions(q: RedemptionQuery): Promise<Page<Redemption>> {
    const where: Record<string, string> = {};
    if (q.campaign_id) where.campaign_id = q.campaign_id;
    if (q.merchant_id) where.merchant_id = q.merchant_id;
    if (q.status) where.status = q.status;
    const rows = this.page('redemptions', redemptionCols, q, where);
    return { data: rows.data as unknown as Redemption[], has_more: rows.has_more };
  }

  async expiredHolds(now_ms: number, limit: number): Promise<Array<{ id: string; campaign_id: string }>> {
    const sql =
      "SELECT id, campaign_id FROM redemptions WHERE status = 'reserved' AND hold_expires_at_ms <= ? ORDER BY hold_expires_at_ms LIMIT ?";
    return (this.db.prepare(sql).all(now_ms, limit) as Row[]).map((r) => ({
      id: String(r.id),
      campaign_id: String(r.campaign_id),
    }));
  }

  async exposureRows(campaign_id: string, by: 'merchant_id' | 'product_kind'): Promise<ExposureRow[]> {
    return this.groupedRows(campaign_id, by);
  }

  async exposure(campaign_id: string): Promise<ExposureSnapshot | null> {
    // One read transaction: another connection's batch (another process on the file) cannot commit between the reads.
    return this.db.transaction((): ExposureSnapshot | null => {
      const row = this.stmt.campaignGet.get(campaign_id) as Row | undefined;
      if (!row) return null;
      return { campaign: JSON.parse(String(row.doc)) as Campaign, ...this.groupedBoth(campaign_id) };
    })();
  }

  /**
   * exposureRows both ways from one pass over the campaign's rows (grouped by merchant, kind and
   * status, then folded): the read blocks the event loop, and two passes took twice as long
   * (400,000 rows: about 260 ms against 600 ms). PostgreSQL does the same with GROUPING SETS.
   */
  private groupedBoth(campaign_id: string): Pick<ExposureSnapshot, 'by_merchant' | 'by_product_kind'> {
    const sql = `SELECT merchant_id, product_kind, status, COUNT(*) AS count, ${releasedUnsummedSql} AS discount_minor
      FROM redemptions WHERE campaign_id = ? GROUP BY merchant_id, product_kind, status`;
    const by_merchant = new Map<string, ExposureRow>();
    const by_product_kind = new Map<string, ExposureRow>();
    const add = (groups: Map<string, ExposureRow>, key: string, r: Row) => {
      const id = `${String(r.status)}\u0000${key}`;
      const group = groups.get(id) ?? { key, status: r.status as RedemptionStatus, count: 0, discount_minor: 0 };
      group.count += Number(r.count);
      group.discount_minor += Number(r.discount_minor);
      groups.set(id, group);
    };
    for (const r of this.db.prepare(sql).all(campaign_id) as Row[]) {
      add(by_merchant, String(r.merchant_id), r);
      add(by_product_kind, String(r.product_kind), r);
    }
    return { by_merchant: [...by_merchant.values()], by_product_kind: [...by_product_kind.values()] };
  }

  private groupedRows(campaign_id: string, by: 'merchant_id' | 'product_kind'): ExposureRow[] {
    const sql = `SELECT ${by} AS key, status, COUNT(*) AS count, ${releasedUnsummedSql} AS discount_minor FROM redemptions WHERE campaign_id = ? GROUP BY ${by}, status`;
    return (this.db.prepare(sql).all(campaign_id) as Row[]).map((r) => ({
      key: String(r.key),
      status: r.status as RedemptionStatus,
      count: Number(r.count),
      discount_minor: Number(r.discount_minor),
    }));
  }

  async redemptionTotals(
    campaign_id: string,
  ): Promise<Map<RedemptionStatus, { count: number; discount_minor: number }>> {
    const sql = `SELECT status, COUNT(*) AS count, ${releasedUnsummedSql} AS discount_minor FROM redemptions WHERE campaign_id = ? GROUP BY status`;
    const out = new Map<RedemptionStatus, { count: number; discount_minor: number }>();
    for (const r of this.db.prepare(sql).all(campaign_id) as Row[]) {
      out.set(r.status as RedemptionStatus, { count: Number(r.count), discount_minor: Number(r.discount_minor) });
    }
    return out;
  }

  async doubleRedeemedCoupons(campaign_id: string): Promise<string[]> {
    const sql = `SELECT r.coupon_id AS id FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
      WHERE r.campaign_id = ? AND c.kind <> 'shared' AND r.status IN ('reserved', 'confirmed', 'frozen')
      GROUP BY r.coupon_id HAVING COUNT(*) > 1`;
    return (this.db.prepare(sql).all(campaign_id) as Row[]).map((r) => String(r.id));
  }

  couponClasses(campaign_id: string, ends_at_ms: number): Promise<CouponClass[]> {
    return this.couponChecks.couponClasses(campaign_id, ends_at_ms);
  }

  redemptionFits(campaign_id: string): Promise<RedemptionFit[]> {
    return this.couponChecks.redemptionFits(campaign_id);
  }

  unredeemedThrough(campaign_id: string, through_id: string): Promise<UnredeemedThrough> {
    return this.couponChecks.unredeemedThrough(campaign_id, through_id);
  }

  couponsById(ids: readonly string[]): Promise<CouponFacts[]> {
    return this.couponChecks.couponsById(ids);
  }

  async usageCounts(campaign_id: string): Promise<Map<UsageKey, number>> {
    const rows = this.db.prepare('SELECT key, count FROM usage WHERE campaign_id = ?').all(campaign_id) as Row[];
    return new Map(rows.map((r) => [String(r.key) as UsageKey, Number(r.count)]));
  }

  async forEachRedemption(campaign_id: string, visit: (page: Redemption[]) => void | Promise<void>): Promise<void> {
    const stmt = this.db.prepare(
      `SELECT ${redemptionCols} FROM redemptions WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT 5000`,
    );
    let after = '';
    for (;;) {
      const page = stmt.all(campaign_id, after) as Redemption[];
      if (page.length === 0) return;
      await visit(page);
      after = page[page.length - 1]?.id ?? after;
    }
  }

  async getUsage(campaign_id: string, keys: UsageKey[]): Promise<Map<UsageKey, number>> {
    const out = new Map<UsageKey, number>();
    this.readUsage(campaign_id, keys, out);
    return out;
  }

  /**
   * Fills `out` with the count of every key, 0 for keys never used, in one statement (a batch's
   * counters: an order's, a user's...; most keys are new, so absent).
   */
  private readUsage(campaign_id: string, keys: readonly UsageKey[], out: Map<UsageKey, number>): void {
    if (keys.length === 0) return;
    for (const key of keys) out.set(key, 0);
    const found = this.stmt.usageGet.all(campaign_id, JSON.stringify(keys)) as Row[];
    for (const u of found) out.set(String(u.key) as UsageKey, Number(u.count));
  }

  async getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    return this.readIdem(key);
  }

  async pruneIdempotency(before_ms: number, limit: number): Promise<number> {
    const sql = `DELETE FROM idempotency WHERE key IN
      (SELECT key FROM idempotency WHERE created_at_ms < ? ORDER BY created_at_ms LIMIT ?)`;
    return this.db.prepare(sql).run(before_ms, limit).changes;
  }

  async putIdempotency(rec: IdempotencyRecord): Promise<IdempotencyRecord> {
    this.insertIdem(rec);
    return this.readIdem(rec.key) ?? rec;
  }

  async swapIdempotency(
    key: string,
    expected: unknown,
    next: { result: unknown; created_at_ms: number } | null,
  ): Promise<boolean> {
    const was = JSON.stringify(expected);
    const run =
      next === null
        ? this.db.prepare('DELETE FROM idempotency WHERE key = ? AND result = ?').run(key, was)
        : this.db
            .prepare('UPDATE idempotency SET result = ?, created_at_ms = ? WHERE key = ? AND result = ?')
            .run(JSON.stringify(next.result), next.created_at_ms, key, was);
    return run.changes === 1;
  }

  async pendingOutbox(limit: number): Promise<OutboxEvent[]> {
    const sql =
      'SELECT id, type, data, created_at_ms FROM outbox WHERE dispatched_at_ms IS NULL ORDER BY created_at_ms, id LIMIT ?';
    return (this.db.prepare(sql).all(limit) as Row[]).map((r) => ({
      id: String(r.id),
      type: String(r.type),
      created_at_ms: Number(r.created_at_ms),
      data: JSON.parse(String(r.data)),
    }));
  }

  async markOutboxDispatched(ids: string[], at_ms: number): Promise<void> {
    const stmt = this.db.prepare('UPDATE outbox SET dispatched_at_ms = ? WHERE id = ? AND dispatched_at_ms IS NULL');
    this.db.transaction(() => {
      for (const id of ids) stmt.run(at_ms, id);
    })();
  }

  private withPlatformAudit<T>(make: (prev: ChainHead) => AuditEntry, body: () => T): { entry: AuditEntry; value: T } {
    return this.db
      .transaction(() => {
        const head = this.stmt.platformHead.get() as Row | undefined;
        const prev = head ? { seq: Number(head.chain_seq), hash: String(head.hash) } : { seq: 0, hash: genesis };
        const value = body();
        const entry = make(prev);
        this.insertAudit(entry);
        this.stmt.platformHeadSet.run(entry.chain_seq, entry.hash);
        return { entry, value };
      })
      .immediate();
  }

  async appendPlatformAudit(make: (prev: ChainHead) => AuditEntry): Promise<AuditEntry> {
    return this.withPlatformAudit(make, () => undefined).entry;
  }

  async listAudit(q: SizedListQuery): Promise<Page<AuditEntry & { seq: number }>> {
    const args: unknown[] = [];
    let where = '';
    if (q.starting_after) {
      where = 'WHERE seq < ?';
      args.push(Number(q.starting_after));
    }
    const rows = this.db.prepare(`SELECT * FROM audit ${where} ORDER BY seq DESC LIMIT ?`);
    const page = sizedPage(rows.iterate(...args, q.limit + 1) as IterableIterator<Row>, q, (r) => textBytes(r.data));
    return { data: page.data.map(auditFromRow), has_more: page.has_more };
  }

  async auditChain(chain: string): Promise<Array<AuditEntry & { seq: number }>> {
    return (this.db.prepare('SELECT * FROM audit WHERE chain = ? ORDER BY chain_seq').all(chain) as Row[]).map(
      auditFromRow,
    );
  }

  async auditChains(): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT chain FROM audit ORDER BY chain').all() as Row[]).map((r) =>
      String(r.chain),
    );
  }

  async insertApiKey(k: ApiKeyRecord, audit: (prev: ChainHead) => AuditEntry): Promise<void> {
    this.withPlatformAudit(audit, () => this.insertApiKeyRow(k));
  }

  /** The key only if none exists: the check and the insert are one immediate (write-locked) transaction. */
  async insertFirstApiKey(k: ApiKeyRecord, audit: (prev: ChainHead) => AuditEntry): Promise<boolean> {
    const keyExists = new Error('an api key exists');
    try {
      this.withPlatformAudit(audit, () => {
        if (this.db.prepare('SELECT 1 FROM api_keys LIMIT 1').get() !== undefined) throw keyExists;
        this.insertApiKeyRow(k);
      });
      return true;
    } catch (err) {
      if (err === keyExists) return false;
      throw err;
    }
  }

  private insertApiKeyRow(k: ApiKeyRecord): void {
    this.db
      .prepare(
        `INSERT INTO api_keys (id, name, hash, scopes, created_at_ms, revoked_at_ms, created_by, replaces)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(k.id, k.name, k.hash, JSON.stringify(k.scopes), k.created_at_ms, k.revoked_at_ms, k.created_by, k.replaces);
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = this.db.prepare('SELECT * FROM api_keys WHERE hash = ?').get(hash) as Row | undefined;
    return row ? apiKeyFromRow(row) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (this.db.prepare('SELECT * FROM api_keys ORDER BY id DESC').all() as Row[]).map(apiKeyFromRow);
  }

  async revokeApiKey(id: string, at_ms: number, audit: (prev: ChainHead) => AuditEntry): Promise<boolean> {
    const sql = 'UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL';
    const { value } = this.withPlatformAudit(audit, () => this.db.prepare(sql).run(at_ms, id).changes > 0);
    return value;
  }

  /** Every type a live webhook lists, for a batch (see BatchLoad.subscribed_types). */
  private subscribedTypes(): Set<string> {
    const rows = this.db.prepare('SELECT events FROM webhooks WHERE deleted_at_ms IS NULL').all() as Row[];
    return new Set(rows.flatMap((r) => JSON.parse(String(r.events)) as string[]));
  }

  /** Every key's origin, for a batch (see BatchLoad.key_origins). */
  private keyOrigins(): Map<string, KeyOrigin> {
    const rows = this.db.prepare('SELECT id, created_by, replaces FROM api_keys').all() as Row[];
    return new Map(rows.map((r) => [String(r.id), keyOriginFromRow(r)]));
  }

  async countApiKeys(): Promise<number> {
    const row = this.db.prepare('SELECT COUNT(*) AS n FROM api_keys').get() as Row;
    return Number(row.n);
  }

  async getOrCreateSecret(name: string, make: () => string): Promise<string> {
    this.db.prepare('INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, make());
    const row = this.db.prepare('SELECT value FROM secrets WHERE name = ?').get(name) as Row;
    return String(row.value);
  }

  // ---- red envelopes: sqlite/red-envelopes.ts ----

  async insertRedEnvelope(
    c: Campaign,
    audit: AuditEntry,
    envelope: RedEnvelopeRow,
    packets_minor: readonly number[],
    idem: IdempotencyRecord | null,
    events: readonly OutboxEvent[] = [],
  ): Promise<void> {
    this.envelopes.insert(c, audit, envelope, packets_minor, idem, events);
  }

  async redEnvelopeCampaignId(envelope_id: string): Promise<string | null> {
    return this.envelopes.campaignId(envelope_id);
  }

  async listRedEnvelopes(q: ListQuery): Promise<Page<Campaign>> {
    return this.envelopes.list(q);
  }

  async dueRedEnvelopes(now_ms: number, limit: number): Promise<Array<{ id: string; campaign_id: string }>> {
    return this.envelopes.due(now_ms, limit);
  }

  async redEnvelopeRow(campaign_id: string): Promise<StoredRedEnvelopeRow | null> {
    return this.envelopes.row(campaign_id);
  }

  async redEnvelopePackets(campaign_id: string): Promise<PacketCheck[]> {
    return this.envelopes.checked(campaign_id);
  }

  // ---- webhooks and deliveries: sqlite/events.ts ----

  async platformAuditHead(): Promise<ChainHead | null> {
    const head = this.stmt.platformHead.get() as Row | undefined;
    return head ? { seq: Number(head.chain_seq), hash: String(head.hash) } : null;
  }

  async auditHeads(): Promise<ChainHeadRef[]> {
    return (this.stmt.auditHeads.all() as Row[]).map((r) => ({
      chain: String(r.chain),
      chain_seq: Number(r.chain_seq),
      hash: String(r.hash),
    }));
  }

  async insertWebhook(w: WebhookRecord, audit: MakePlatformAudit): Promise<boolean> {
    return this.events.insertWebhook(w, audit);
  }

  async deleteWebhook(id: string, at_ms: number, audit: MakePlatformAudit): Promise<boolean> {
    return this.events.deleteWebhook(id, at_ms, audit);
  }

  async getWebhook(id: string): Promise<WebhookRecord | null> {
    return this.events.getWebhook(id);
  }

  async listWebhooks(q: ListQuery): Promise<Page<WebhookRecord>> {
    return this.events.listWebhooks(q);
  }

  async liveWebhooks(): Promise<WebhookRecord[]> {
    return this.events.liveWebhooks(limits.webhooks_max);
  }

  async relayOutbox(limit: number, at_ms: number, fan: FanOut, events_max?: number): Promise<number> {
    return this.events.relayOutbox(limit, at_ms, fan, events_max);
  }

  async insertEvents(events: OutboxEvent[]): Promise<void> {
    this.events.insertEvents(events);
  }

  async claimDeliveries(
    now_ms: number,
    lease_until_ms: number,
    limit: number,
    skip?: readonly string[],
  ): Promise<DeliveryRecord[]> {
    return this.events.claimDeliveries(now_ms, lease_until_ms, limit, skip);
  }

  async recordAttempt(a: DeliveryAttempt): Promise<void> {
    this.events.recordAttempt(a);
  }

  async listDeliveries(webhook_id: string, q: ListQuery): Promise<Page<DeliveryRecord>> {
    return this.events.listDeliveries(webhook_id, q);
  }

  async pruneEvents(before_ms: number): Promise<number> {
    return this.events.pruneEvents(before_ms);
  }
  // ---- alerts and incidents: sqlite/incidents.ts ----

  async listAlerts(q: ListQuery & { campaign_id?: string }): Promise<Page<Alert>> {
    return this.incidents.listAlerts(q);
  }

  async insertIncident(
    incident: Incident,
    lease: IncidentLease,
    audit: MakePlatformAudit,
    events: OutboxEvent[],
  ): Promise<void> {
    this.incidents.insertIncident(incident, lease, audit, events);
  }

  async updateIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    audit: MakePlatformAudit | null,
    events: OutboxEvent[],
  ): Promise<boolean> {
    return this.incidents.updateIncident(incident, from, lease, audit, events);
  }

  async claimIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    now_ms: number,
    audit: MakePlatformAudit | null,
  ): Promise<boolean> {
    return this.incidents.claimIncident(incident, from, lease, now_ms, audit);
  }

  async stuckIncidents(now_ms: number, limit: number): Promise<string[]> {
    return this.incidents.stuckIncidents(now_ms, limit);
  }

  async getIncident(id: string): Promise<Incident | null> {
    return this.incidents.getIncident(id);
  }

  async listIncidents(q: SizedListQuery): Promise<Page<Incident>> {
    return this.incidents.listIncidents(q);
  }

  async campaignsWithRedemptionsAt(filter: ScopeFilter): Promise<string[]> {
    return this.incidents.campaignsWithRedemptionsAt(filter);
  }

  async liveRedemptionIdsInScope(
    campaign_id: string,
    f: ScopeFilter,
    after_id: string,
    limit: number,
  ): Promise<string[]> {
    return this.incidents.liveRedemptionIdsInScope(campaign_id, f, after_id, limit);
  }

  async incidentCampaigns(incident_id: string): Promise<string[]> {
    return this.incidents.incidentCampaigns(incident_id);
  }

  async incidentMembers(
    incident_id: string,
    campaign_id: string,
    after_id: string,
    limit: number,
  ): Promise<IncidentMember[]> {
    return this.incidents.incidentMembers(incident_id, campaign_id, after_id, limit);
  }

  async incidentMemberCampaigns(): Promise<Array<{ incident_id: string; campaign_id: string }>> {
    return this.incidents.incidentMemberCampaigns();
  }

  async incidentResolvedTotals(incident_id: string): Promise<{ count: number; discount_minor: number }> {
    return this.incidents.incidentResolvedTotals(incident_id);
  }

  async incidentReportRows(incident_id: string): Promise<IncidentReportRow[]> {
    return this.incidents.incidentReportRows(incident_id);
  }

  async incidentRevokedCoupons(incident_id: string): Promise<number> {
    return this.incidents.incidentRevokedCoupons(incident_id);
  }

  async incidentRevocations(): Promise<Array<{ incident_id: string; campaign_id: string; coupons: number }>> {
    return this.incidents.incidentRevocations();
  }

  async incidentReleasedHolds(incident_id: string): Promise<Breakdown> {
    return this.incidents.incidentReleasedHolds(incident_id);
  }

  async incidentReleases(): Promise<Array<{ incident_id: string; campaign_id: string } & Breakdown>> {
    return this.incidents.incidentReleases();
  }

  async unredeemedCouponIds(campaign_id: string, through_id: string, limit: number): Promise<string[]> {
    return this.incidents.unredeemedCouponIds(campaign_id, through_id, limit);
  }

  async newestId(kind: 'redemption' | 'coupon', campaign_ids: readonly string[]): Promise<string | null> {
    return this.incidents.newestId(kind, campaign_ids);
  }
}

/** A batch's writes failed part-way in runBatches' first pass: roll it back and isolate. */
class WritesFailed extends Error {
  constructor(cause: unknown) {
    super('a batch failed while writing', { cause });
  }
}

function auditFromRow(r: Row): AuditEntry & { seq: number } {
  return {
    seq: Number(r.seq),
    chain: String(r.chain),
    chain_seq: Number(r.chain_seq),
    at_ms: Number(r.at_ms),
    actor: r.actor === null ? null : String(r.actor),
    action: String(r.action),
    subject: String(r.subject),
    data_json: String(r.data),
    prev_hash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

function keyOriginFromRow(r: Row): KeyOrigin {
  return {
    created_by: r.created_by === null ? null : String(r.created_by),
    replaces: r.replaces === null ? null : String(r.replaces),
  };
}

function apiKeyFromRow(r: Row): ApiKeyRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    hash: String(r.hash),
    scopes: JSON.parse(String(r.scopes)) as string[],
    created_at_ms: Number(r.created_at_ms),
    revoked_at_ms: r.revoked_at_ms === null ? null : Number(r.revoked_at_ms),
    ...keyOriginFromRow(r),
  };
}
