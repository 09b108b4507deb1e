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
  {
    // The platform chain's head, written beside each new entry: deleting the newest entries shows.
    id: '020_audit_heads',
    sql: `
  CREATE TABLE audit_heads (chain TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
  INSERT INTO audit_heads (chain, seq, hash)
    SELECT chain, chain_seq, hash FROM audit WHERE chain = 'platform' ORDER BY chain_seq DESC LIMIT 1;
  `,
  },
  {
    id: '021_webhooks',
    sql: `
  CREATE TABLE webhooks (
    id TEXT COLLATE "C" PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    deleted_at_ms BIGINT
  );
  CREATE TABLE webhook_deliveries (
    webhook_id TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    next_attempt_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (updated_at_ms) WHERE status <> 'pending';
  CREATE INDEX outbox_dispatched ON outbox (dispatched_at_ms) WHERE dispatched_at_ms IS NOT NULL;
  `,
  },
  {
    // Red envelopes: packets are split once at creation; grabs pop them under the campaign row lock.
    // One packet per user is kept by the claim counter (usage's primary key), not by an index here:
    // a second unique index cost a random-order index write per grab; verify checks it instead.
    id: '050_red_envelopes',
    sql: `
  ALTER TABLE coupons ADD COLUMN value_minor BIGINT;
  CREATE TABLE red_envelopes (
    id TEXT COLLATE "C" PRIMARY KEY,
    campaign_id TEXT NOT NULL UNIQUE,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    settled_at_ms BIGINT
  );
  CREATE INDEX red_envelopes_due ON red_envelopes (expires_at_ms) WHERE settled_at_ms IS NULL;
  CREATE TABLE red_envelope_packets (
    campaign_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    amount_minor BIGINT NOT NULL,
    grabbed_by TEXT,
    coupon_id TEXT,
    grabbed_at_ms BIGINT,
    PRIMARY KEY (campaign_id, idx)
  );
  `,
  },
  {
    // Detection and incidents. incident_redemptions remembers exactly which rows an incident froze,
    // so its resolution acts on those and its report sums them; keyed by incident first.
    id: '040_incidents',
    sql: `
  CREATE TABLE alerts (
    id TEXT COLLATE "C" PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX alerts_campaign ON alerts (campaign_id, id);
  CREATE TABLE incidents (
    id TEXT COLLATE "C" PRIMARY KEY,
    status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE TABLE incident_redemptions (
    incident_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    redemption_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (incident_id, campaign_id, redemption_id)
  );
  CREATE TABLE incident_revocations (
    incident_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    coupons BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (incident_id, campaign_id)
  );
  `,
  },
  {
    // Idempotency records are kept 24 hours (limits.idempotency_ttl_ms), then pruned oldest first.
    id: '060_idempotency_expiry',
    sql: 'CREATE INDEX idempotency_created ON idempotency (created_at_ms);',
  },
  {
    // Incident work survives its process: a lease (who works on an opening or resolving incident,
    // until when; another node takes over once it runs out) and, per member, what the resolution
    // did with it, so a resumed resolution settles every member exactly once.
    id: '070_incident_resume',
    sql: `
  ALTER TABLE incidents ADD COLUMN lease_owner TEXT;
  ALTER TABLE incidents ADD COLUMN lease_until_ms BIGINT;
  CREATE INDEX incidents_working ON incidents (status, lease_until_ms);
  ALTER TABLE incident_redemptions ADD COLUMN outcome TEXT;
  `,
  },
  {
    // Holds an incident's freeze released (a hold is never frozen: its checkout never confirmed it),
    // counted per (incident, campaign) in the batch that released them, for the report and verify.
    id: '080_incident_releases',
    sql: `
  CREATE TABLE incident_releases (
    incident_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    holds BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL,
    PRIMARY KEY (incident_id, campaign_id)
  );
  `,
  },
  {
    // A campaign keeps the newest coupon bound of the incidents whose revocation ran over it
    // (Campaign.revoke_through_id: a reversal does not give back a coupon up to it). Incidents
    // opened before it was kept saved their bound in their work state: carried over here.
    id: '090_campaign_revoke_bound',
    sql: `
  UPDATE campaigns c SET doc = (c.doc::jsonb || jsonb_build_object('revoke_through_id', b.through_id))::text
  FROM (
    SELECT s.campaign_id, max((i.doc::jsonb #>> '{work,revoke_through_id}') COLLATE "C") AS through_id
    FROM incidents i CROSS JOIN LATERAL jsonb_array_elements_text(i.doc::jsonb -> 'campaign_ids') AS s(campaign_id)
    WHERE i.doc::jsonb #>> '{work,revoke_through_id}' IS NOT NULL
    GROUP BY s.campaign_id
  ) AS b
  WHERE c.id = b.campaign_id;
  `,
  },
  {
    // One discount per order and campaign: see the SQLite migration of the same id.
    id: '100_order_usage',
    sql: `
  INSERT INTO usage (campaign_id, key, count)
  SELECT campaign_id, 'order:' || replace(replace(order_id, '%', '%25'), ':', '%3A') || ':' || merchant_id, count(*)
  FROM redemptions WHERE status IN ('reserved', 'confirmed', 'frozen')
  GROUP BY campaign_id, order_id, merchant_id
  ON CONFLICT (campaign_id, key) DO UPDATE SET count = excluded.count;
  `,
  },
  {
    // A batch's audit entry lists every change it made (about 230 kB of JSON for 1,000 redemptions)
    // and is written while the campaign row is held: lz4 compresses it in half the time of the
    // default pglz, to about the same size. The campaign doc, updated by every batch, likewise.
    // New values only (existing rows keep pglz, both read back the same); a server built without
    // lz4 keeps pglz.
    id: '110_lz4_toast',
    sql: `
  DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
      EXECUTE 'ALTER TABLE audit ALTER COLUMN data_json SET COMPRESSION lz4';
      EXECUTE 'ALTER TABLE campaigns ALTER COLUMN doc SET COMPRESSION lz4';
    END IF;
  END $$;
  `,
  },
  {
    // Coupons a reversal set active in a revoked campaign before 3ef4101: see the SQLite migration.
    id: '120_revoked_campaign_coupons',
    sql: `
  UPDATE coupons SET status = 'revoked'
  WHERE status = 'active' AND campaign_id IN (SELECT id FROM campaigns WHERE status = 'revoked');
  `,
  },
  {
    // A key's origin, for maker-checker: see the SQLite migration of the same id. The audit data is
    // read as json, not jsonb, which refuses an escaped NUL (see above); only platform key entries are read.
    id: '130_api_key_lineage',
    sql: `
  ALTER TABLE api_keys ADD COLUMN created_by TEXT COLLATE "C";
  ALTER TABLE api_keys ADD COLUMN replaces TEXT COLLATE "C";
  UPDATE api_keys k SET created_by = (
    SELECT a.actor FROM audit a
    WHERE a.chain = 'platform' AND a.action = 'api_key.created' AND a.subject = k.id
      AND a.actor IN (SELECT id FROM api_keys)
    ORDER BY a.chain_seq LIMIT 1
  );
  UPDATE api_keys k SET replaces = (
    SELECT CASE WHEN r.data::json ->> 'replaced_by' = k.id THEN r.subject ELSE r.data::json ->> 'rotation_of' END
    FROM (
      SELECT a.subject, a.data_json AS data, a.chain_seq FROM audit a
      WHERE a.chain = 'platform' AND a.action = 'api_key.revoked'
      OFFSET 0
    ) r
    WHERE r.data::json ->> 'replaced_by' = k.id OR (r.subject = k.id AND r.data::json ->> 'rotation_of' IS NOT NULL)
    ORDER BY r.chain_seq LIMIT 1
  );
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
  'audit_heads',
  'webhooks',
  'webhook_deliveries',
  'red_envelopes',
  'red_envelope_packets',
  'alerts',
  'incidents',
  'incident_redemptions',
  'incident_revocations',
  'incident_releases',
] as const;
