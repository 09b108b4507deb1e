/**
 * Schema migrations, each applied once and recorded by id in `migrations_applied`;
 * features add their own entry with a new id (order between independent features is free).
 */
export const migrations: ReadonlyArray<{ id: string; sql: string }> = [
  {
    id: '001_core',
    sql: `
  CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    code TEXT UNIQUE,
    created_at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE TABLE coupons (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    user_id TEXT,
    code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
  );
  CREATE INDEX coupons_campaign_status ON coupons (campaign_id, status);
  CREATE TABLE redemptions (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    coupon_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    order_amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    product_kind TEXT NOT NULL,
    discount_minor INTEGER NOT NULL,
    status TEXT NOT NULL,
    hold_expires_at_ms INTEGER,
    device_id TEXT,
    ip TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- (campaign_id, id) grows at its end under time-ordered ids. No index on merchant_id on
  -- purpose: hundreds of merchants per batch would dirty hundreds of index pages per commit
  -- (measured: 3x slower inserts); merchant filters scan a campaign's rows instead.
  CREATE INDEX redemptions_campaign ON redemptions (campaign_id, id);
  CREATE INDEX redemptions_holds ON redemptions (hold_expires_at_ms) WHERE status = 'reserved';
  CREATE TABLE usage (
    campaign_id TEXT NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
  );
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    chain TEXT NOT NULL,
    chain_seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, chain_seq)
  );
  CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    dispatched_at_ms INTEGER
  );
  CREATE INDEX outbox_pending ON outbox (created_at_ms) WHERE dispatched_at_ms IS NULL;
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
  );
  CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  },
  {
    // The platform chain's head, written beside each new entry: deleting the newest entries shows.
    id: '020_audit_heads',
    sql: `
  CREATE TABLE audit_heads (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
  INSERT INTO audit_heads (chain, seq, hash)
    SELECT chain, chain_seq, hash FROM audit WHERE chain = 'platform' ORDER BY chain_seq DESC LIMIT 1;
  `,
  },
  {
    id: '021_webhooks',
    sql: `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    deleted_at_ms INTEGER
  );
  CREATE TABLE webhook_deliveries (
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    next_attempt_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
  ) WITHOUT ROWID;
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
  ALTER TABLE coupons ADD COLUMN value_minor INTEGER;
  CREATE TABLE red_envelopes (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL UNIQUE,
    expires_at_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    settled_at_ms INTEGER
  );
  CREATE INDEX red_envelopes_due ON red_envelopes (expires_at_ms) WHERE settled_at_ms IS NULL;
  CREATE TABLE red_envelope_packets (
    campaign_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    grabbed_by TEXT,
    coupon_id TEXT,
    grabbed_at_ms INTEGER,
    PRIMARY KEY (campaign_id, idx)
  ) WITHOUT ROWID;
  `,
  },
  {
    // Detection and incidents. incident_redemptions remembers exactly which rows an incident froze,
    // so its resolution acts on those and its report sums them; keyed by incident first.
    id: '040_incidents',
    sql: `
  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX alerts_campaign ON alerts (campaign_id, id);
  CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE TABLE incident_redemptions (
    incident_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    redemption_id TEXT NOT NULL,
    PRIMARY KEY (incident_id, campaign_id, redemption_id)
  ) WITHOUT ROWID;
  CREATE TABLE incident_revocations (
    incident_id TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    coupons INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (incident_id, campaign_id)
  ) WITHOUT ROWID;
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
  ALTER TABLE incidents ADD COLUMN lease_until_ms INTEGER;
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
    holds INTEGER NOT NULL,
    discount_minor INTEGER NOT NULL,
    PRIMARY KEY (incident_id, campaign_id)
  ) WITHOUT ROWID;
  `,
  },
  {
    // A campaign keeps the newest coupon bound of the incidents whose revocation ran over it
    // (Campaign.revoke_through_id: a reversal does not give back a coupon up to it). Incidents
    // opened before it was kept saved their bound in their work state: carried over here.
    id: '090_campaign_revoke_bound',
    sql: `
  UPDATE campaigns SET doc = json_set(doc, '$.revoke_through_id', b.through_id)
  FROM (
    SELECT s.value AS campaign_id, max(json_extract(i.doc, '$.work.revoke_through_id')) AS through_id
    FROM incidents i, json_each(i.doc, '$.campaign_ids') s
    WHERE json_extract(i.doc, '$.work.revoke_through_id') IS NOT NULL
    GROUP BY s.value
  ) AS b
  WHERE campaigns.id = b.campaign_id;
  `,
  },
  {
    // One discount per order and campaign: every live redemption counts under its order's key
    // (engine/redeem-handlers.ts orderKey: 'order:' + the order id with '%' and ':' escaped + ':' +
    // merchant id). Redemptions made before the rule existed are counted here.
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
    // Revoking a campaign revokes every coupon not redeemed, and since 3ef4101 a reversal with
    // restore_coupon in a revoked campaign leaves its coupon revoked; before, it set it active,
    // a coupon that could never redeem again and that verify now reports. Such coupons are revoked.
    id: '120_revoked_campaign_coupons',
    sql: `
  UPDATE coupons SET status = 'revoked'
  WHERE status = 'active' AND campaign_id IN (SELECT id FROM campaigns WHERE status = 'revoked');
  `,
  },
  {
    // A key's origin, for maker-checker (domain/key-lineage.ts): the key that created it and the key
    // it replaced by rotation. Keys stored before take both from the platform chain, which has
    // always recorded them: api_key.created names its actor (a creator only when that actor is a
    // key; 'cli' and the bootstrap's null are none), and a rotation's api_key.revoked names the
    // successor of the key it revoked (replaced_by; rotation_of when the rotation was undone).
    id: '130_api_key_lineage',
    sql: `
  ALTER TABLE api_keys ADD COLUMN created_by TEXT;
  ALTER TABLE api_keys ADD COLUMN replaces TEXT;
  UPDATE api_keys SET created_by = (
    SELECT a.actor FROM audit a
    WHERE a.chain = 'platform' AND a.action = 'api_key.created' AND a.subject = api_keys.id
      AND a.actor IN (SELECT id FROM api_keys)
    ORDER BY a.chain_seq LIMIT 1
  );
  UPDATE api_keys SET replaces = (
    SELECT CASE WHEN json_extract(a.data, '$.replaced_by') = api_keys.id THEN a.subject
                ELSE json_extract(a.data, '$.rotation_of') END
    FROM audit a
    WHERE a.chain = 'platform' AND a.action = 'api_key.revoked'
      AND (json_extract(a.data, '$.replaced_by') = api_keys.id
           OR (a.subject = api_keys.id AND json_extract(a.data, '$.rotation_of') IS NOT NULL))
    ORDER BY a.chain_seq LIMIT 1
  );
  `,
  },
];
