/**
 * PostgreSQL migrations, each applied once and recorded by id in `migrations_applied`;
 * features add their own entry with a new id (order between independent features is free).
 * The tables mirror the SQLite schema: money and times are BIGINT, ids TEXT. JSON is kept
 * as TEXT, not JSONB: audit `data_json` must come back exactly as hashed, and JSONB rejects
 * the escaped NUL (`\u0000`) that JSON.stringify may emit from user-supplied strings.
 * Ids collate as "C" so that cursor paging orders them by bytes, as SQLite does.
 */
export const pgMigrations: ReadonlyArray<{ id: string; sql: string }> = [
  {
    id: '001_core',
    sql: `
  CREATE TABLE campaigns (
    id TEXT COLLATE "C" PRIMARY KEY,
    status TEXT NOT NULL,
    code TEXT UNIQUE,
    created_at_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX campaigns_status ON campaigns (status, id);
  CREATE TABLE coupons (
    id TEXT COLLATE "C" PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    user_id TEXT,
    code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
  );
  CREATE INDEX coupons_campaign_status ON coupons (campaign_id, status);
  CREATE TABLE redemptions (
    id TEXT COLLATE "C" PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    coupon_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    order_amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    product_kind TEXT NOT NULL,
    discount_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    hold_expires_at_ms BIGINT,
    device_id TEXT,
    ip TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
  );
  CREATE INDEX redemptions_campaign_status ON redemptions (campaign_id, status);
  -- Keyset paging of one campaign (forEachRedemption); it grows at its end under time-ordered ids.
  -- No merchant or coupon index, as in SQLite: every extra index is written by every batch.
  CREATE INDEX redemptions_campaign_id ON redemptions (campaign_id, id);
  CREATE INDEX redemptions_holds ON redemptions (hold_expires_at_ms) WHERE status = 'reserved';
  CREATE TABLE usage (
    campaign_id TEXT NOT NULL,
    key TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, key)
  );
  CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
  );
  CREATE TABLE audit (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain TEXT COLLATE "C" NOT NULL,
    chain_seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    data_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, chain_seq)
  );
  CREATE TABLE outbox (
    id TEXT COLLATE "C" PRIMARY KEY,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    dispatched_at_ms BIGINT
  );
  CREATE INDEX outbox_pending ON outbox (created_at_ms) WHERE dispatched_at_ms IS NULL;
  CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
  );
  CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  },
];

/** Every table, for tests that reset a database between cases. */
export const pgTables = [
  'campaigns',
  'coupons',
  'redemptions',
  'usage',
  'idempotency',
  'audit',
  'outbox',
  'api_keys',
  'secrets',
] as const;
