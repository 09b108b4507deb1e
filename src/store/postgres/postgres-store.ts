import pg from 'pg';
import { limits } from '../../config/limits.ts';
import type { Campaign } from '../../domain/campaign.ts';
import type { Coupon } from '../../domain/coupon.ts';
import type { Alert, Breakdown, Incident, IncidentStatus } from '../../domain/incident.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import type {
  ApiKeyRecord,
  AuditEntry,
  BatchDecide,
  BatchLoad,
  CampaignBudget,
  ExposureRow,
  ExposureSnapshot,
  IdempotencyRecord,
  ListQuery,
  OutboxEvent,
  Page,
  RedemptionQuery,
  SizedListQuery,
  Store,
  UsageKey,
} from '../port.ts';
import type { ChainHeadRef } from '../port-audit.ts';
import type { CouponClass, CouponFacts, RedemptionFit, UnredeemedThrough } from '../port-coupon-checks.ts';
import type { DeliveryAttempt, DeliveryRecord, FanOut, WebhookRecord } from '../port-events.ts';
import type {
  IncidentLease,
  IncidentMember,
  IncidentReportRow,
  MakePlatformAudit,
  ScopeFilter,
} from '../port-incidents.ts';
import type { PacketCheck, RedEnvelopeRow, StoredRedEnvelopeRow } from '../port-red-envelopes.ts';
import { type MigrationState, migrationState, NewerSchema } from '../schema-version.ts';
import * as events from './events.ts';
import {
  applyWrites,
  type Db,
  insertAudit,
  insertCoupons,
  insertIdempotency,
  insertOutbox,
  loadSnapshot,
  loadUsage,
} from './pg-batch.ts';
import * as couponChecks from './pg-coupon-checks.ts';
import { isAnswerTimeout, isUniqueViolation, mapPgError } from './pg-errors.ts';
import * as incidents from './pg-incidents.ts';
import type { MakeAudit } from './pg-platform.ts';
import * as platform from './pg-platform.ts';
import * as reads from './pg-reads.ts';
import { PinnedSnapshots } from './pg-snapshot.ts';
import * as envelopes from './red-envelopes.ts';
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
  /** How long a statement may wait for a lock before it fails (default limits.pg_lock_wait_ms_max). */
  lock_wait_ms_max?: number;
  /** How long a transaction may sit idle before the server ends it (default limits.pg_idle_in_transaction_ms_max). */
  idle_in_transaction_ms_max?: number;
  /** How long a statement's answer is awaited before its connection is dropped (default limits.pg_answer_wait_ms_max). */
  answer_wait_ms_max?: number;
}

/** pg_advisory_xact_lock key that lets one process at a time migrate (pg-platform.ts uses 7_305_002). */
const migrateLockKey = 7_305_001;

/** setTimeout's largest delay (about 24.8 days): a migration's statements wait as long as they take. */
const unbounded_ms = 2_147_483_647;

/** `db`'s query without the answer wait: for a migration, which waits for another and for its DDL. */
function patient(db: Db): (text: string, values?: unknown[]) => Promise<pg.QueryResult<Row>> {
  return (text, values) => db.query<Row>({ text, values, query_timeout: unbounded_ms } as pg.QueryConfig);
}

/** Carries an error thrown by `load` or `decide` through the rollback untouched: it is the engine's, not the database's. */
class DecideFailed {
  constructor(readonly cause: unknown) {}
}

function portError(err: unknown): unknown {
  return err instanceof DecideFailed ? err.cause : mapPgError(err);
}

const appliedSql = 'SELECT id FROM migrations_applied';

/** The database's recorded migrations (rows of appliedSql) against this build's. */
function migrationsOf(applied: readonly Row[]): MigrationState<(typeof pgMigrations)[number]> {
  return migrationState(
    applied.map((r) => String(r.id)),
    pgMigrations,
  );
}

/** The cluster store: many API processes share one PostgreSQL; the campaign row lock serializes batches. */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  /** While readSnapshot runs: the one connection (in a REPEATABLE READ transaction) the reads of its fn go to. */
  private readonly snapshots: PinnedSnapshots;
  private readonly q: reads.Query = async (sql, params) => {
    try {
      return (await (this.snapshots.client ?? this.pool).query<Row>(sql, params)).rows;
    } catch (err) {
      if (isAnswerTimeout(err) && this.snapshots.client) this.snapshots.answerLost(err as Error);
      throw mapPgError(err);
    }
  };

  constructor(opts: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.pool_connections_max ?? 20,
      connectionTimeoutMillis: opts.connect_timeout_ms ?? 5000,
      lock_timeout: opts.lock_wait_ms_max ?? limits.pg_lock_wait_ms_max,
      idle_in_transaction_session_timeout: opts.idle_in_transaction_ms_max ?? limits.pg_idle_in_transaction_ms_max,
      // A silent network (no reset) must not hold a request for as long as TCP retries: see isAnswerTimeout.
      query_timeout: opts.answer_wait_ms_max ?? limits.pg_answer_wait_ms_max,
      // And an idle pooled connection to a server that went away is noticed before it is handed out.
      keepAlive: true,
    });
    // An idle client that loses its server must not crash the process; the next query reports it.
    this.pool.on('error', () => undefined);
    // Nor one handed to a waiting pool.connect(): between the pool's hand-over and the await that
    // adds its listener, the server's FATAL (pg_terminate_backend) may be parsed from the same chunk
    // as the ReadyForQuery that freed it. Heard here for the client's whole life; its next query fails.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.snapshots = new PinnedSnapshots(this.pool);
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
      // A statement that got no answer in time may still be running: the connection takes no ROLLBACK
      // (it would queue behind it); dropping it ends the transaction on the server.
      if (isAnswerTimeout(err)) broken = true;
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

  /** Whether this database was ever migrated (a mistyped DATABASE_URL names one that was not). */
  async hasSchema(): Promise<boolean> {
    const rows = await this.q("SELECT to_regclass('migrations_applied') IS NOT NULL AS ok");
    return rows[0]?.ok === true;
  }

  async pendingMigrations(): Promise<string[]> {
    return migrationsOf(await this.q(appliedSql)).unapplied.map((m) => m.id);
  }

  async newerMigrations(): Promise<string[]> {
    return migrationsOf(await this.q(appliedSql)).newer;
  }

  async migrate(): Promise<void> {
    await this.write(async (client) => {
      // Migrations wait for each other (and their DDL for the tables' users) as long as it takes.
      const query = patient(client);
      await query('SET LOCAL lock_timeout = 0');
      await query('SELECT pg_advisory_xact_lock($1)', [migrateLockKey]);
      await query('CREATE TABLE IF NOT EXISTS migrations_applied (id TEXT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)');
      const { unapplied, newer } = migrationsOf((await query(appliedSql)).rows);
      if (newer.length > 0) throw new NewerSchema(newer);
      for (const m of unapplied) {
        await query(m.sql);
        await query('INSERT INTO migrations_applied (id, applied_at_ms) VALUES ($1, $2)', [m.id, Date.now()]);
      }
    });
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  /** Overlapping calls share one snapshot; a lost connection rejects as StoreUnavailable (pg-snapshot.ts). */
  readSnapshot<T>(fn: () => Promise<T>): Promise<T> {
    return this.snapshots.run(fn);
  }

  /** Its reads go to the snapshot's pinned connection, the rest of the process to the pool: `fn` may yield. */
  readSnapshotApart<T>(fn: (reader: Store, apart: boolean) => Promise<T>): Promise<T> {
    return this.snapshots.run(() => fn(this, true));
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

  listCampaigns(q: SizedListQuery & { status?: string | readonly string[] }): Promise<Page<Campaign>> {
    return reads.listCampaigns(this.q, q);
  }

  async campaignIds(): Promise<string[]> {
    return (await this.q('SELECT id FROM campaigns ORDER BY id')).map((r) => String(r.id));
  }

  campaignBudgets(q: { ids: string[]; limit: number }): Promise<CampaignBudget[]> {
    return reads.campaignBudgets(this.q, q);
  }

  async sharedCodes(min_chars: number): Promise<string[]> {
    const sql = 'SELECT code FROM campaigns WHERE code IS NOT NULL AND char_length(code) >= $1';
    return (await this.q(sql, [min_chars])).map((r) => String(r.code));
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
    const usage_absent = new Set<UsageKey>();
    const snapshot = await loadSnapshot(
      db,
      campaign_id,
      (c) => {
        try {
          return load(c);
        } catch (err) {
          throw new DecideFailed(err);
        }
      },
      usage_absent,
    );
    let decided: ReturnType<BatchDecide<R>>;
    try {
      decided = decide(snapshot);
    } catch (err) {
      throw new DecideFailed(err);
    }
    if (decided.writes) await applyWrites(db, decided.writes, usage_absent);
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

  exposure(campaign_id: string): Promise<ExposureSnapshot | null> {
    return reads.exposure(this.q, campaign_id);
  }

  redemptionTotals(campaign_id: string): Promise<Map<RedemptionStatus, { count: number; discount_minor: number }>> {
    return reads.redemptionTotals(this.q, campaign_id);
  }

  doubleRedeemedCoupons(campaign_id: string): Promise<string[]> {
    return reads.doubleRedeemedCoupons(this.q, campaign_id);
  }

  couponClasses(campaign_id: string, ends_at_ms: number): Promise<CouponClass[]> {
    return couponChecks.couponClasses(this.q, campaign_id, ends_at_ms);
  }

  redemptionFits(campaign_id: string): Promise<RedemptionFit[]> {
    return couponChecks.redemptionFits(this.q, campaign_id);
  }

  unredeemedThrough(campaign_id: string, through_id: string): Promise<UnredeemedThrough> {
    return couponChecks.unredeemedThrough(this.q, campaign_id, through_id);
  }

  couponsById(ids: readonly string[]): Promise<CouponFacts[]> {
    return couponChecks.couponsById(this.q, ids);
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

  pruneIdempotency(before_ms: number, limit: number): Promise<number> {
    return platform.pruneIdempotency(this.write, before_ms, limit);
  }

  getIdempotency(key: string): Promise<IdempotencyRecord | null> {
    return platform.getIdempotency(this.q, key);
  }

  putIdempotency(rec: IdempotencyRecord): Promise<IdempotencyRecord> {
    return platform.putIdempotency(this.write, rec);
  }

  swapIdempotency(
    key: string,
    expected: unknown,
    next: { result: unknown; created_at_ms: number } | null,
  ): Promise<boolean> {
    return platform.swapIdempotency(this.write, key, expected, next);
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

  listAudit(q: SizedListQuery): Promise<Page<AuditEntry & { seq: number }>> {
    return platform.listAudit(this.q, q);
  }

  async auditChain(chain: string): Promise<Array<AuditEntry & { seq: number }>> {
    return (await this.q('SELECT * FROM audit WHERE chain = $1 ORDER BY chain_seq', [chain])).map(auditFromRow);
  }

  async auditChains(): Promise<string[]> {
    return (await this.q('SELECT DISTINCT chain FROM audit ORDER BY chain')).map((r) => String(r.chain));
  }

  insertApiKey(k: ApiKeyRecord, audit: MakeAudit): Promise<void> {
    return platform.insertApiKey(this.write, k, audit);
  }

  insertFirstApiKey(k: ApiKeyRecord, audit: MakeAudit): Promise<boolean> {
    return platform.insertFirstApiKey(this.write, k, audit);
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

  // ---- red envelopes: postgres/red-envelopes.ts ----

  insertRedEnvelope(
    c: Campaign,
    audit: AuditEntry,
    envelope: RedEnvelopeRow,
    packets_minor: readonly number[],
    idem: IdempotencyRecord | null,
    events: readonly OutboxEvent[] = [],
  ): Promise<void> {
    return envelopes.insertRedEnvelope(this.write, c, audit, envelope, packets_minor, idem, events);
  }

  redEnvelopeCampaignId(envelope_id: string): Promise<string | null> {
    return envelopes.redEnvelopeCampaignId(this.q, envelope_id);
  }

  listRedEnvelopes(q: ListQuery): Promise<Page<Campaign>> {
    return envelopes.listRedEnvelopes(this.q, q);
  }

  dueRedEnvelopes(now_ms: number, limit: number): Promise<Array<{ id: string; campaign_id: string }>> {
    return envelopes.dueRedEnvelopes(this.q, now_ms, limit);
  }

  redEnvelopeRow(campaign_id: string): Promise<StoredRedEnvelopeRow | null> {
    return envelopes.redEnvelopeRow(this.q, campaign_id);
  }

  redEnvelopePackets(campaign_id: string): Promise<PacketCheck[]> {
    return envelopes.redEnvelopePackets(this.q, campaign_id);
  }

  // ---- webhooks and deliveries: postgres/events.ts ----

  platformAuditHead(): Promise<{ seq: number; hash: string } | null> {
    return events.platformAuditHead(this.q);
  }

  auditHeads(): Promise<ChainHeadRef[]> {
    return events.auditHeads(this.q);
  }

  insertWebhook(w: WebhookRecord, audit: MakeAudit): Promise<boolean> {
    return events.insertWebhook(this.write, w, audit);
  }

  deleteWebhook(id: string, at_ms: number, audit: MakeAudit): Promise<boolean> {
    return events.deleteWebhook(this.write, id, at_ms, audit);
  }

  getWebhook(id: string): Promise<WebhookRecord | null> {
    return events.getWebhook(this.q, id);
  }

  listWebhooks(q: ListQuery): Promise<Page<WebhookRecord>> {
    return events.listWebhooks(this.q, q);
  }

  liveWebhooks(): Promise<WebhookRecord[]> {
    return events.liveWebhooks(this.q, limits.webhooks_max);
  }

  relayOutbox(limit: number, at_ms: number, fan: FanOut, events_max?: number): Promise<number> {
    return events.relayOutbox(this.write, limit, at_ms, fan, events_max);
  }

  async insertEvents(list: OutboxEvent[]): Promise<void> {
    await this.write((db) => insertOutbox(db, list));
  }

  claimDeliveries(
    now_ms: number,
    lease_until_ms: number,
    limit: number,
    skip?: readonly string[],
  ): Promise<DeliveryRecord[]> {
    return events.claimDeliveries(this.q, now_ms, lease_until_ms, limit, skip);
  }

  recordAttempt(a: DeliveryAttempt): Promise<void> {
    return events.recordAttempt(this.q, a);
  }

  listDeliveries(webhook_id: string, q: ListQuery): Promise<Page<DeliveryRecord>> {
    return events.listDeliveries(this.q, webhook_id, q);
  }

  pruneEvents(before_ms: number): Promise<number> {
    return events.pruneEvents(this.write, before_ms);
  }

  // ---- alerts and incidents: pg-incidents.ts ----

  listAlerts(q: ListQuery & { campaign_id?: string }): Promise<Page<Alert>> {
    return incidents.listAlerts(this.q, q);
  }

  insertIncident(
    incident: Incident,
    lease: IncidentLease,
    audit: MakePlatformAudit,
    outbox: OutboxEvent[],
  ): Promise<void> {
    return incidents.insertIncident(this.write, incident, lease, audit, outbox);
  }

  updateIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    audit: MakePlatformAudit | null,
    outbox: OutboxEvent[],
  ): Promise<boolean> {
    return incidents.updateIncident(this.write, incident, from, lease, audit, outbox);
  }

  claimIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    now_ms: number,
    audit: MakePlatformAudit | null,
  ): Promise<boolean> {
    return incidents.claimIncident(this.write, incident, from, lease, now_ms, audit);
  }

  stuckIncidents(now_ms: number, limit: number): Promise<string[]> {
    return incidents.stuckIncidents(this.q, now_ms, limit);
  }

  getIncident(id: string): Promise<Incident | null> {
    return incidents.getIncident(this.q, id);
  }

  listIncidents(q: SizedListQuery): Promise<Page<Incident>> {
    return incidents.listIncidents(this.q, q);
  }

  campaignsWithRedemptionsAt(filter: ScopeFilter): Promise<string[]> {
    return incidents.campaignsWithRedemptionsAt(this.q, filter);
  }

  liveRedemptionIdsInScope(campaign_id: string, f: ScopeFilter, after_id: string, limit: number): Promise<string[]> {
    return incidents.liveRedemptionIdsInScope(this.q, campaign_id, f, after_id, limit);
  }

  incidentCampaigns(incident_id: string): Promise<string[]> {
    return incidents.incidentCampaigns(this.q, incident_id);
  }

  incidentMembers(
    incident_id: string,
    campaign_id: string,
    after_id: string,
    limit: number,
  ): Promise<IncidentMember[]> {
    return incidents.incidentMembers(this.q, incident_id, campaign_id, after_id, limit);
  }

  incidentMemberCampaigns(): Promise<Array<{ incident_id: string; campaign_id: string }>> {
    return incidents.incidentMemberCampaigns(this.q);
  }

  incidentResolvedTotals(incident_id: string): Promise<{ count: number; discount_minor: number }> {
    return incidents.incidentResolvedTotals(this.q, incident_id);
  }

  incidentReportRows(incident_id: string): Promise<IncidentReportRow[]> {
    return incidents.incidentReportRows(this.q, incident_id);
  }

  incidentRevokedCoupons(incident_id: string): Promise<number> {
    return incidents.incidentRevokedCoupons(this.q, incident_id);
  }

  incidentRevocations(): Promise<Array<{ incident_id: string; campaign_id: string; coupons: number }>> {
    return incidents.incidentRevocations(this.q);
  }

  incidentReleasedHolds(incident_id: string): Promise<Breakdown> {
    return incidents.incidentReleasedHolds(this.q, incident_id);
  }

  incidentReleases(): Promise<Array<{ incident_id: string; campaign_id: string } & Breakdown>> {
    return incidents.incidentReleases(this.q);
  }

  unredeemedCouponIds(campaign_id: string, through_id: string, limit: number): Promise<string[]> {
    return incidents.unredeemedCouponIds(this.q, campaign_id, through_id, limit);
  }

  newestId(kind: 'redemption' | 'coupon', campaign_ids: readonly string[]): Promise<string | null> {
    return incidents.newestId(this.q, kind, campaign_ids);
  }
}
