import pg from 'pg';
import type { Campaign } from '../../domain/campaign.ts';
import type { Coupon } from '../../domain/coupon.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import type {
  ApiKeyRecord,
  AuditEntry,
  BatchDecide,
  BatchLoad,
  ExposureRow,
  IdempotencyRecord,
  ListQuery,
  OutboxEvent,
  Page,
  RedemptionQuery,
  Store,
  UsageKey,
} from '../port.ts';
import {
  applyWrites,
  type Db,
  insertAudit,
  insertCoupons,
  insertIdempotency,
  loadSnapshot,
  loadUsage,
} from './pg-batch.ts';
import { isUniqueViolation, mapPgError } from './pg-errors.ts';
import type { MakeAudit } from './pg-platform.ts';
import * as platform from './pg-platform.ts';
import * as reads from './pg-reads.ts';
import {
  apiKeyFromRow,
  auditFromRow,
  campaignFromRow,
  couponCols,
  couponFromRow,
  int,
  type Row,
  redemptionCols,
  redemptionFromRow,
} from './rows.ts';
import { pgMigrations } from './schema.ts';

export interface PostgresOptions {
  /** postgres://user@host:port/database */
  url: string;
  /** Connections per process; a batch holds one for its whole transaction. */
  pool_connections_max?: number;
  connect_timeout_ms?: number;
}

/** pg_advisory_xact_lock key that lets one process at a time migrate (pg-platform.ts uses 7_305_002). */
const migrateLockKey = 7_305_001;

/** Carries an error thrown by `load` or `decide` through the rollback untouched: it is the engine's, not the database's. */
class DecideFailed {
  constructor(readonly cause: unknown) {}
}

function portError(err: unknown): unknown {
  return err instanceof DecideFailed ? err.cause : mapPgError(err);
}

/** The cluster store: many API processes share one PostgreSQL; the campaign row lock serializes batches. */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly q: reads.Query = async (sql, params) => {
    try {
      return (await this.pool.query<Row>(sql, params)).rows;
    } catch (err) {
      throw mapPgError(err);
    }
  };

  constructor(opts: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.pool_connections_max ?? 20,
      connectionTimeoutMillis: opts.connect_timeout_ms ?? 5000,
    });
    // An idle client that loses its server must not crash the process; the next query reports it.
    this.pool.on('error', () => undefined);
  }

  /** BEGIN ... COMMIT on one pooled connection; rolls back on any error and drops a broken connection. */
  private async tx<T>(body: (db: Db) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapPgError(err);
    }
    let broken = false;
    // A checked-out client whose server goes away emits 'error'; unheard, that would crash the process.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const value = await body(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      if (!broken) await client.query('ROLLBACK').catch(onError);
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** tx, with driver errors mapped onto UniqueViolation / StoreUnavailable. */
  private readonly write: platform.Write = async (body) => {
    try {
      return await this.tx(body);
    } catch (err) {
      throw portError(err);
    }
  };

  async migrate(): Promise<void> {
    await this.write(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1)', [migrateLockKey]);
      await db.query(
        'CREATE TABLE IF NOT EXISTS migrations_applied (id TEXT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)',
      );
      const done = new Set((await db.query<Row>('SELECT id FROM migrations_applied')).rows.map((r) => String(r.id)));
      for (const m of pgMigrations) {
        if (done.has(m.id)) continue;
        await db.query(m.sql);
        await db.query('INSERT INTO migrations_applied (id, applied_at_ms) VALUES ($1, $2)', [m.id, Date.now()]);
      }
    });
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  async insertCampaign(
    c: Campaign,
    audit: AuditEntry,
    coupons: Coupon[],
    idem: IdempotencyRecord | null,
  ): Promise<void> {
    await this.write(async (db) => {
      const sql = 'INSERT INTO campaigns (id, status, code, created_at_ms, doc) VALUES ($1, $2, $3, $4, $5)';
      await db.query(sql, [c.id, c.status, c.code, c.created_at_ms, JSON.stringify(c)]);
      await insertCoupons(db, coupons);
      await insertAudit(db, [audit]);
      if (idem) await insertIdempotency(db, [idem]);
    });
  }

  async getCampaign(id: string): Promise<Campaign | null> {
    const row = (await this.q('SELECT doc FROM campaigns WHERE id = $1', [id]))[0];
    return row ? campaignFromRow(row) : null;
  }

  listCampaigns(q: ListQuery & { status?: string }): Promise<Page<Campaign>> {
    return reads.listCampaigns(this.q, q);
  }

  async campaignIds(): Promise<string[]> {
    return (await this.q('SELECT id FROM campaigns ORDER BY id')).map((r) => String(r.id));
  }

  /**
   * Lock, load, decide, write, commit. If another campaign's batch took one of our
   * idempotency keys meanwhile, the batch runs once more: decide is pure, and the
   * second snapshot holds that key's stored answer to replay.
   */
  async runBatch<R>(campaign_id: string, load: (c: Campaign) => BatchLoad, decide: BatchDecide<R>): Promise<R> {
    try {
      return await this.tx((db) => this.batchOnce(db, campaign_id, load, decide));
    } catch (err) {
      if (!isUniqueViolation(err, 'idempotency_pkey')) throw portError(err);
    }
    return this.write((db) => this.batchOnce(db, campaign_id, load, decide));
  }

  private async batchOnce<R>(
    db: Db,
    campaign_id: string,
    load: (c: Campaign) => BatchLoad,
    decide: BatchDecide<R>,
  ): Promise<R> {
    const snapshot = await loadSnapshot(db, campaign_id, (c) => {
      try {
        return load(c);
      } catch (err) {
        throw new DecideFailed(err);
      }
    });
    let decided: ReturnType<BatchDecide<R>>;
    try {
      decided = decide(snapshot);
    } catch (err) {
      throw new DecideFailed(err);
    }
    if (decided.writes) await applyWrites(db, decided.writes);
    return decided.result;
  }

  async getCoupon(id: string): Promise<Coupon | null> {
    const row = (await this.q(`SELECT ${couponCols} FROM coupons WHERE id = $1`, [id]))[0];
    return row ? couponFromRow(row) : null;
  }

  async findCouponByCode(code: string): Promise<Coupon | null> {
    const row = (await this.q(`SELECT ${couponCols} FROM coupons WHERE code = $1`, [code]))[0];
    return row ? couponFromRow(row) : null;
  }

  async getRedemption(id: string): Promise<Redemption | null> {
    const row = (await this.q(`SELECT ${redemptionCols} FROM redemptions WHERE id = $1`, [id]))[0];
    return row ? redemptionFromRow(row) : null;
  }

  listRedemptions(q: RedemptionQuery): Promise<Page<Redemption>> {
    return reads.listRedemptions(this.q, q);
  }

  expiredHolds(now_ms: number, limit: number): Promise<Array<{ id: string; campaign_id: string }>> {
    return reads.expiredHolds(this.q, now_ms, limit);
  }

  exposureRows(campaign_id: string, by: 'merchant_id' | 'product_kind'): Promise<ExposureRow[]> {
    return reads.exposureRows(this.q, campaign_id, by);
  }

  redemptionTotals(campaign_id: string): Promise<Map<RedemptionStatus, { count: number; discount_minor: number }>> {
    return reads.redemptionTotals(this.q, campaign_id);
  }

  doubleRedeemedCoupons(campaign_id: string): Promise<string[]> {
    return reads.doubleRedeemedCoupons(this.q, campaign_id);
  }

  usageCounts(campaign_id: string): Promise<Map<UsageKey, number>> {
    return reads.usageCounts(this.q, campaign_id);
  }

  forEachRedemption(campaign_id: string, visit: (page: Redemption[]) => void | Promise<void>): Promise<void> {
    return reads.forEachRedemption(this.q, campaign_id, visit);
  }

  async getUsage(campaign_id: string, keys: UsageKey[]): Promise<Map<UsageKey, number>> {
    const out = new Map<UsageKey, number>();
    await loadUsage(this.q, campaign_id, keys, out);
    return out;
  }

  getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    return platform.getIdempotency(this.q, key);
  }

  putIdempotency(rec: IdempotencyRecord): Promise<IdempotencyRecord> {
    return platform.putIdempotency(this.q, rec);
  }

  pendingOutbox(limit: number): Promise<OutboxEvent[]> {
    return platform.pendingOutbox(this.q, limit);
  }

  markOutboxDispatched(ids: string[], at_ms: number): Promise<void> {
    return platform.markOutboxDispatched(this.q, ids, at_ms);
  }

  async appendPlatformAudit(make: MakeAudit): Promise<AuditEntry> {
    return (await platform.withPlatformAudit(this.write, make, async () => undefined)).entry;
  }

  listAudit(q: ListQuery): Promise<Page<AuditEntry & { seq: number }>> {
    return platform.listAudit(this.q, q);
  }

  async auditChain(chain: string): Promise<AuditEntry[]> {
    return (await this.q('SELECT * FROM audit WHERE chain = $1 ORDER BY chain_seq', [chain])).map(auditFromRow);
  }

  async auditChains(): Promise<string[]> {
    return (await this.q('SELECT DISTINCT chain FROM audit ORDER BY chain')).map((r) => String(r.chain));
  }

  insertApiKey(k: ApiKeyRecord, audit: MakeAudit): Promise<void> {
    return platform.insertApiKey(this.write, k, audit);
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = (await this.q('SELECT * FROM api_keys WHERE hash = $1', [hash]))[0];
    return row ? apiKeyFromRow(row) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.q('SELECT * FROM api_keys ORDER BY id DESC')).map(apiKeyFromRow);
  }

  revokeApiKey(id: string, at_ms: number, audit: MakeAudit): Promise<boolean> {
    return platform.revokeApiKey(this.write, id, at_ms, audit);
  }

  async countApiKeys(): Promise<number> {
    const row = (await this.q('SELECT COUNT(*) AS n FROM api_keys'))[0];
    return row ? int(row.n) : 0;
  }

  getOrCreateSecret(name: string, make: () => string): Promise<string> {
    return platform.getOrCreateSecret(this.q, name, make);
  }
}
