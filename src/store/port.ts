import type { Campaign, CampaignStatus } from '../domain/campaign.ts';
import type { LiveMax } from '../domain/campaign-change.ts';
import type { Coupon } from '../domain/coupon.ts';
import type { KeyOrigin } from '../domain/key-lineage.ts';
import type { Redemption, RedemptionStatus } from '../domain/redemption.ts';
import type { AuditAnchorStore } from './port-audit.ts';
import type { CampaignChangeBulkOp } from './port-campaign-change.ts';
import type { CouponCheckStore } from './port-coupon-checks.ts';
import type { EventStore } from './port-events.ts';
import type { IncidentBulkOp, IncidentFence, IncidentFenceLoad, IncidentStore } from './port-incidents.ts';
import type { EnvelopePacket, RedEnvelopeStore } from './port-red-envelopes.ts';
import type { SnapshotStore } from './port-snapshot.ts';

/** One link of a hash chain: `hash = H(prev_hash || canonical(entry))`. */
export interface AuditEntry {
  chain: string;
  chain_seq: number;
  at_ms: number;
  actor: string | null;
  action: string;
  subject: string;
  /** The entry's data as JSON text, stored and hashed byte for byte. */
  data_json: string;
  prev_hash: string;
  hash: string;
}

/** An event for webhooks; adapters may pack a batch's events into one outbox row. */
export interface OutboxEvent {
  id: string;
  type: string;
  created_at_ms: number;
  data: unknown;
}

/** A replayable answer: what the first request with this key got. */
export interface IdempotencyRecord {
  key: string;
  fingerprint: string;
  result: unknown;
  created_at_ms: number;
}

/** Per-(campaign, subject) counts of live redemptions and claims, kept beside the budget row. */
export type UsageKey = `user:${string}` | `merchant:${string}` | `claim:${string}` | `order:${string}`;

/** What a batch needs read inside its transaction, after the campaign row is locked. */
export interface BatchLoad {
  coupon_ids: string[];
  redemption_ids: string[];
  usage_keys: UsageKey[];
  idempotency_keys: string[];
  /** Also load every reserved redemption of the campaign (revoke releases them all). */
  all_reserved?: boolean;
  /** Also load the most live redemptions of one user and of one merchant (a limit being set or lowered). */
  live_max?: boolean;
  /** Also load the campaign's red-envelope packets idx in [from_idx, from_idx + count) (grabs pop them in order). */
  packets?: { from_idx: number; count: number };
  /** Also load these incidents' fences (incident bulk work): state, lease holder, pending members among the ids. */
  incidents?: IncidentFenceLoad[];
  /**
   * Also list the incidents that hold the campaign paused (an approval or submit checks them): not
   * resolved, with pause_campaigns, covering the campaign (listed in their scope, or among the
   * campaigns the scope resolved to).
   */
  pausing_incidents?: boolean;
  /** Also read every API key's origin (an approval checks the lineages of the approver and the makers). */
  key_origins?: boolean;
  /**
   * Also read the event types live webhooks subscribe to, in the batch's transaction: a webhook
   * another node made a moment ago gets this batch's events (Engine.subscriptionsInBatch).
   */
  subscribed_types?: boolean;
}

export interface BatchSnapshot {
  campaign: Campaign;
  coupons: Map<string, Coupon>;
  redemptions: Map<string, Redemption>;
  usage: Map<UsageKey, number>;
  idempotency: Map<string, IdempotencyRecord>;
  /** Red-envelope packets by idx, when the load asked for them. */
  packets?: Map<number, EnvelopePacket>;
  /** When the load asked for `live_max`: counted from the redemption rows, not the usage counters. */
  live_max?: LiveMax;
  /** When the load asked for `incidents`: by incident id; an incident that does not exist is absent. */
  incidents?: Map<string, IncidentFence>;
  /** When the load asked for `pausing_incidents`: their ids, oldest first. */
  pausing_incidents?: string[];
  /** When the load asked for `key_origins`: every stored API key's, by id. */
  key_origins?: Map<string, KeyOrigin>;
  /** When the load asked for `subscribed_types`: every type some live webhook lists. */
  subscribed_types?: Set<string>;
}

/** Set-wise changes that do not fit in a snapshot (a whole campaign at once). */
export type BulkOp =
  | { kind: 'revoke_active_coupons'; at_ms: number }
  /** Marks the campaign's red envelope refunded, so the sweeper no longer finds it. */
  | { kind: 'settle_red_envelope'; at_ms: number }
  | IncidentBulkOp
  | CampaignChangeBulkOp;

/** Everything one batch writes, applied in the same transaction that read the snapshot. */
export interface BatchWrites {
  campaign: Campaign;
  coupons_insert: Coupon[];
  coupons_update: Coupon[];
  redemptions_insert: Redemption[];
  redemptions_update: Redemption[];
  usage_delta: Map<UsageKey, number>;
  idempotency_insert: IdempotencyRecord[];
  audit: AuditEntry[];
  outbox: OutboxEvent[];
  bulk: BulkOp[];
  /** Red-envelope packets grabbed in this batch, in their final state. */
  packets_update?: EnvelopePacket[];
}

/** One campaign's part of a multi-campaign commit. */
export interface BatchItem<R> {
  campaign_id: string;
  load: (campaign: Campaign) => BatchLoad;
  decide: BatchDecide<R>;
}

/** Decides a batch from its locked snapshot. Pure with respect to the store: no I/O. */
export type BatchDecide<R> = (snapshot: BatchSnapshot) => { writes: BatchWrites | null; result: R };

export interface Page<T> {
  data: T[];
  has_more: boolean;
}

export interface ListQuery {
  limit: number;
  starting_after?: string;
}

/**
 * A list whose items can be large (a campaign with a 100k-user allowlist, an incident over 10k
 * merchants, a batch's audit entry): with `page_bytes_max` a page ends early (has_more: true)
 * once its items' stored JSON would pass that many UTF-8 bytes; the first item always comes, and
 * at most one item past the cap is read.
 */
export interface SizedListQuery extends ListQuery {
  page_bytes_max?: number;
}

export interface RedemptionQuery extends ListQuery {
  campaign_id?: string;
  merchant_id?: string;
  status?: RedemptionStatus;
}

/** A campaign's budget as its row holds it; of two reads of one campaign, the larger `audit_seq` is the newer. */
export interface CampaignBudget {
  id: string;
  /** So that a reader of `ids` can tell which of them are over (ended or revoked). */
  status: CampaignStatus;
  audit_seq: number;
  budget_minor: number;
  reserved_minor: number;
  spent_minor: number;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** sha256 of the secret, hex */
  hash: string;
  scopes: string[];
  created_at_ms: number;
  revoked_at_ms: number | null;
  /**
   * The key that created it and was given its secret (by rotation too); null for the bootstrap key,
   * keys made with the CLI, and keys stored before this was kept whose creator the audit did not name.
   */
  created_by: string | null;
  /** The key it replaced by rotation, if any. */
  replaces: string | null;
}

export interface ExposureRow {
  key: string;
  status: RedemptionStatus;
  count: number;
  /** The group's discounts summed; 0 for released ones (see releasedUnsummedSql). */
  discount_minor: number;
}

/**
 * A group's discount sum in SQL (both stores' dialects), leaving released holds out (0). Their sum
 * has no bound: reserve-and-release cycles never touch the budget, so it passes 2^53 (and SQLite's
 * 2^63, where SUM fails) while every live sum stays within the budget and reversed within 2^53 - 1
 * (checkLimits). Nothing reads it: a hold given back costs nothing.
 */
export const releasedUnsummedSql = "COALESCE(SUM(CASE WHEN status <> 'released' THEN discount_minor END), 0)";

/** A campaign with its redemption rows grouped (exposureRows, both ways), all read at one moment. */
export interface ExposureSnapshot {
  campaign: Campaign;
  by_merchant: ExposureRow[];
  by_product_kind: ExposureRow[];
}

/** Thrown by adapters when an insert hits an existing idempotency key or code. */
export class UniqueViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UniqueViolation';
  }
}

/** Thrown by adapters when the database cannot be reached; maps to 503 store_unavailable. */
export class StoreUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

/**
 * The storage port. Every money change goes through `runBatch`, which locks the
 * campaign row, loads what the batch needs, lets the engine decide, and writes it
 * all in one transaction. Adapters: sqlite/ (embedded), postgres/ (cluster).
 */
export interface Store
  extends RedEnvelopeStore,
    EventStore,
    AuditAnchorStore,
    IncidentStore,
    SnapshotStore,
    CouponCheckStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;
  /** The ids of the migrations this build knows that the store has not applied (an older store); changes nothing. */
  pendingMigrations(): Promise<string[]>;
  /** Migrations the store records that this build does not know (a newer build ran them): see NewerSchema. */
  newerMigrations(): Promise<string[]>;
  close(): Promise<void>;

  /** Inserts a new campaign with its first audit entry (and idempotency record). */
  insertCampaign(
    campaign: Campaign,
    audit: AuditEntry,
    coupons: Coupon[],
    idempotency: IdempotencyRecord | null,
  ): Promise<void>;
  getCampaign(id: string): Promise<Campaign | null>;
  /**
   * Newest first; `status` one status, or any of several (one read, so a campaign moving between
   * them is listed once). `page_bytes_max` counts each campaign's stored document.
   */
  listCampaigns(q: SizedListQuery & { status?: string | readonly string[] }): Promise<Page<Campaign>>;
  /** Ids of every campaign (for verify and the emergency stop). */
  campaignIds(): Promise<string[]>;
  /**
   * The budgets of every campaign not ended or revoked, and of `ids` whatever their status (an
   * unknown id is left out), in one read: at most `limit`, those of `ids` first, each part newest
   * first (so with no more `ids` than `limit`, an id asked for is missing only when the campaign
   * is). For the metrics, which show every node's spending, not only this node's.
   */
  campaignBudgets(q: { ids: string[]; limit: number }): Promise<CampaignBudget[]>;
  /** The shared codes (only shared_code campaigns have one) of at least `min_chars` characters. */
  sharedCodes(min_chars: number): Promise<string[]>;

  /**
   * The one way money moves: lock the campaign row, load what `load(campaign)` asks
   * for (it sees the locked campaign, so it can skip what its settings make needless),
   * decide, write, commit.
   */
  runBatch<R>(campaign_id: string, load: (campaign: Campaign) => BatchLoad, decide: BatchDecide<R>): Promise<R>;
  /**
   * Optional: several campaigns' batches in one transaction (one durable commit), each
   * isolated (a failing one is rolled back alone and answered with its Error). Stores
   * where separate transactions run in parallel (PostgreSQL) need not offer it.
   */
  runBatches?<R>(items: Array<BatchItem<R>>): Promise<Array<R | Error>>;

  getCoupon(id: string): Promise<Coupon | null>;
  findCouponByCode(code: string): Promise<Coupon | null>;
  getRedemption(id: string): Promise<Redemption | null>;
  listRedemptions(q: RedemptionQuery): Promise<Page<Redemption>>;
  /** Reserved redemptions whose hold expired, oldest first. */
  expiredHolds(now_ms: number, limit: number): Promise<Array<{ id: string; campaign_id: string }>>;
  /** Counts and sums grouped by status and merchant / product kind (released ones unsummed: 0). */
  exposureRows(campaign_id: string, by: 'merchant_id' | 'product_kind'): Promise<ExposureRow[]>;
  /**
   * The campaign and exposureRows by merchant and by product kind from one snapshot, so the
   * groups sum to its counters while batches commit (null: no such campaign).
   */
  exposure(campaign_id: string): Promise<ExposureSnapshot | null>;
  /** Sum of discount_minor (released: 0, see releasedUnsummedSql) and count per status, from the redemption rows. */
  redemptionTotals(campaign_id: string): Promise<Map<RedemptionStatus, { count: number; discount_minor: number }>>;
  /** Per-coupon counts of live redemptions above one, for single-use coupons (invariant 4). */
  doubleRedeemedCoupons(campaign_id: string): Promise<string[]>;
  usageCounts(campaign_id: string): Promise<Map<UsageKey, number>>;
  /** Visits every redemption of a campaign in pages (verify, incidents). */
  forEachRedemption(campaign_id: string, visit: (page: Redemption[]) => void | Promise<void>): Promise<void>;
  /** Current usage of a few keys (a read outside any batch, for validations). */
  getUsage(campaign_id: string, keys: UsageKey[]): Promise<Map<UsageKey, number>>;

  getIdempotency(key: string): Promise<IdempotencyRecord | null>;
  /** Inserts if absent; returns the record that is stored after the call. */
  putIdempotency(rec: IdempotencyRecord): Promise<IdempotencyRecord>;
  /**
   * Compare-and-swap: if the record's result is still `expected` (compared as stored JSON), sets
   * its result and creation time to `next`, or deletes it when `next` is null. True if it swapped.
   */
  swapIdempotency(
    key: string,
    expected: unknown,
    next: { result: unknown; created_at_ms: number } | null,
  ): Promise<boolean>;
  /** Deletes up to `limit` records created before `before_ms`, oldest first; returns how many. */
  pruneIdempotency(before_ms: number, limit: number): Promise<number>;

  /** Undispatched outbox events, oldest first: the event dispatcher's feed. */
  pendingOutbox(limit: number): Promise<OutboxEvent[]>;
  /** Marks events delivered so that pendingOutbox no longer returns them. */
  markOutboxDispatched(ids: string[], at_ms: number): Promise<void>;

  /** Platform-wide audit chain (keys, webhooks, global stop). */
  appendPlatformAudit(make: (prev: { seq: number; hash: string }) => AuditEntry): Promise<AuditEntry>;
  /**
   * Newest first. `page_bytes_max` counts each entry's data_json (one entry records a whole
   * batch: up to hundreds of KiB).
   */
  listAudit(q: SizedListQuery): Promise<Page<AuditEntry & { seq: number }>>;
  /** Every entry of one chain in order, with its global `seq`. */
  auditChain(chain: string): Promise<Array<AuditEntry & { seq: number }>>;
  auditChains(): Promise<string[]>;

  /** Inserts a key and its platform audit entry in one transaction. */
  insertApiKey(k: ApiKeyRecord, audit: (prev: { seq: number; hash: string }) => AuditEntry): Promise<void>;
  /**
   * insertApiKey, only while the store holds no key (the bootstrap key): checked in the insert's
   * transaction, ordered with every other key insert, so that nodes starting at once make one key.
   * False, and nothing written, when a key exists.
   */
  insertFirstApiKey(k: ApiKeyRecord, audit: (prev: { seq: number; hash: string }) => AuditEntry): Promise<boolean>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: string, at_ms: number, audit: (prev: { seq: number; hash: string }) => AuditEntry): Promise<boolean>;
  countApiKeys(): Promise<number>;

  /** A per-installation secret (e.g. the code-check key), created on first use. */
  getOrCreateSecret(name: string, make: () => string): Promise<string>;
}
