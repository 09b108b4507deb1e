const KiB = 1024;
const MiB = 1024 * KiB;
const webhooks_max = 100;
const deliveries_per_webhook_max = 4;
const nats_in_flight_max = 32;

/** Every bound in one place, with its unit in its name. */
export const limits = {
  body_bytes_max: 1 * MiB,
  batch_commands_max: 1024,
  queue_commands_max: 50_000,
  codes_per_request_max: 100_000,
  /** Codes one batch (one transaction) makes: a request for more is made in parts, between other work. */
  codes_per_batch_max: 2_000,
  list_limit_max: 100,
  list_limit_default: 20,
  /**
   * Stored JSON (UTF-8) per page of the lists whose items can be large: a campaign with a 100k-user
   * allowlist runs to ~1 MiB, an incident over 10k merchants as much, one batch's audit entry to
   * hundreds of KiB. A page ends early (has_more: true) past it; its first item always comes.
   */
  list_page_bytes_max: 1 * MiB,
  name_chars_max: 128,
  hold_ms_default: 15 * 60_000,
  /** Idempotency records are kept at least this long (as Stripe's keys), pruned hourly, a chunk at a time. */
  idempotency_ttl_ms: 24 * 60 * 60_000,
  idempotency_prune_interval_ms: 60 * 60_000,
  idempotency_prune_chunk_max: 10_000,
  /** A request whose Idempotency-Key another request (maybe on another node) is answering waits this long, then 409. */
  idempotency_claim_wait_ms: 10_000,
  /** A claim a node has seen unchanged this long (its own node renews it while working) is of a node that died: a retry takes it over. */
  idempotency_claim_stale_ms: 5 * 60_000,
  /** At shutdown, how long answers still being stored (the store failed as they were ready) may take. */
  idempotency_drain_ms: 5_000,
  expired_holds_per_sweep_max: 5_000,
  sweep_interval_ms: 1_000,
  allowlist_users_max: 100_000,
  merchant_ids_max: 10_000,
  tiers_max: 20,
  /** Live velocity / attempt counters one process keeps without Redis. */
  memory_counter_keys_max: 1_000_000,
  /** Failed-code counters a process keeps beside Redis, for when Redis cannot be reached (see Guards). */
  local_failure_keys_max: 100_000,
  /** A Redis counter command slower than this fails the request (fail closed, fast). */
  counter_command_timeout_ms: 500,
  counter_connect_timeout_ms: 2_000,
  /**
   * How long a Redis velocity take whose answer was lost (or a give-back that failed) can still be
   * undone once Redis answers again; past it (or its window, when shorter) the place stays taken.
   */
  counter_undo_ms_max: 10 * 60_000,
  /** Such undos a process keeps waiting for Redis; past it the oldest are dropped (their places stay taken). */
  counter_undos_max: 10_000,
  /**
   * PostgreSQL: a statement that waits this long for a lock (a campaign row another node's batch
   * holds, the platform chain's lock) fails with store_unavailable and a retry, instead of holding
   * its request and pooled connection for as long as some stalled process keeps the lock.
   */
  pg_lock_wait_ms_max: 5_000,
  /**
   * PostgreSQL: a statement whose answer has not come this long after it was sent fails with
   * store_unavailable and its connection is dropped. A network that silently stops carrying
   * packets (no reset) otherwise holds the request and its pooled connection until TCP gives up,
   * many minutes later. Far above any statement's own time: reads and writes go in bounded pages,
   * and a lock is waited for at most pg_lock_wait_ms_max. Migrations are exempt (they wait for
   * each other and for long DDL as long as it takes).
   */
  pg_answer_wait_ms_max: 30_000,
  /** PostgreSQL ends a transaction left idle this long (its process stalled or hung), releasing its locks. */
  pg_idle_in_transaction_ms_max: 60_000,
  /**
   * How long a node trusts its copy of a campaign (validations, and the velocity settings a
   * redemption is first counted under; its own changes apply at once).
   */
  campaign_settings_ttl_ms: 1_000,
  campaign_settings_cached_max: 10_000,
  /**
   * Times one redemption is counted again under velocity settings its batch found changed on
   * another node (each count follows a committed change); past it the request is refused, 503.
   */
  velocity_recounts_max: 3,
  /**
   * /metrics: the budget gauges are read from the store (every node's spending, not only this
   * node's) at most this often; scrapes in between show what the last read got.
   */
  metrics_budget_refresh_ms: 2_000,
  /** How long a scrape waits for that read; past it, it shows the last figures and the read finishes on its own. */
  metrics_budget_wait_ms_max: 1_000,
  /**
   * verify judges the coupons an incident revoked only up to this long before the incident's bound:
   * a node whose clock runs behind may stamp a coupon it creates after the revocation with an id
   * under the bound (the bound is the newest id stored), and that coupon is rightly active.
   */
  verify_revoke_clock_skew_ms: 60_000,
  /** Codes per chunk of `vouchsafe codes generate` (one engine batch each). */
  codes_chunk_max: 100_000,
  codes_generate_max: 10_000_000,
  /** Webhooks: live endpoints, URL length, attempts (~1 h of exponential backoff), per-attempt timeout. */
  webhooks_max,
  webhook_url_chars_max: 2048,
  webhook_attempts_max: 10,
  webhook_backoff_base_ms: 8_000,
  webhook_backoff_cap_ms: 40 * 60_000,
  webhook_timeout_ms: 10_000,
  /** A claimed delivery is retried by any node once its lease runs out (its node died mid-attempt). */
  webhook_lease_ms: 60_000,
  webhook_response_bytes_max: 64 * KiB,
  webhook_error_chars_max: 500,
  /**
   * Dispatcher: outbox rows per relay; attempts in flight to one webhook (so that a slow or hanging
   * receiver holds at most that many and the others' deliveries go on), NATS publishes in flight, and
   * the sum of these shares as a node's cap, so that however many receivers hang, every other webhook
   * still has its share; idle poll.
   */
  outbox_relay_rows_max: 100,
  /**
   * Events per relay: rows are taken while their events fit (one row always). A batch packs its events
   * into one row (an incident's freeze batch thousands), so rows alone do not bound a relay's work.
   */
  outbox_relay_events_max: 1_000,
  deliveries_per_webhook_max,
  nats_in_flight_max,
  deliveries_in_flight_max: webhooks_max * deliveries_per_webhook_max + nats_in_flight_max,
  dispatcher_poll_ms: 250,
  /** How often a node re-reads which event types some webhook wants. */
  subscriptions_refresh_ms: 1_000,
  /** Settled deliveries and dispatched outbox rows are kept this long, pruned this often. */
  event_retention_ms: 7 * 24 * 60 * 60_000,
  event_prune_interval_ms: 60 * 60_000,
  /** Packets of one red envelope: every one is split and written at creation. */
  red_envelope_packets_max: 100_000,
  /** How far ahead a red envelope may expire (a season, as lint's longest window). */
  red_envelope_window_ms_max: 90 * 24 * 60 * 60_000,
  /** Lifetime of a grabbed packet's coupon when the envelope names none. */
  red_envelope_coupon_ttl_s_default: 7 * 24 * 3600,
  red_envelope_coupon_ttl_s_max: 366 * 24 * 3600,
  /** Expired envelopes a sweep settles at once (one page); it reads the next page until none is due. */
  red_envelopes_per_sweep_max: 500,
  /** Envelope id -> campaign id routes one process remembers. */
  red_envelope_routes_max: 100_000,
  /** Campaigns whose detector one process keeps (LRU); an evicted one warms up again. */
  detection_campaigns_max: 1_000,
  /** Observations waiting for the shared (Redis) detector per campaign; beyond it they are dropped and counted. */
  detection_pending_events_max: 100_000,
  detection_tick_ms: 1_000,
  /** Redemption ids per incident batch (freeze, reverse, honour): one campaign transaction each. */
  incident_batch_ids_max: 4_000,
  incident_campaigns_max: 1_000,
  incident_title_chars_max: 200,
  /**
   * Connections the kernel holds for the server before it accepts them (node's default is 511):
   * a sale's opening burst, or a busy event loop, would otherwise overflow the queue and reset
   * clients. Linux caps it at net.core.somaxconn (4096 by default).
   */
  listen_backlog: 4096,
  /** A reason given for a pause, resume, revoke or emergency stop. */
  reason_chars_max: 500,
  /** Groups per dimension in an incident report, largest first; the totals always cover everything. */
  incident_report_groups_max: 1_000,
  /**
   * How long an opening or resolving incident stays with the process working on it after its last
   * save (it saves after every batch); then another process may take the work over.
   */
  incident_lease_ms: 60_000,
  /** How often a sweeping engine looks for incidents whose process died; how many it takes per look. */
  incident_resume_check_ms: 5_000,
  /** How often the sweeper looks for live campaigns past their ends_at (they become `ended`). */
  campaign_end_check_ms: 10_000,
  incidents_resumed_per_check_max: 10,
  /** On shutdown, requests in flight get this long to finish; then every connection left is cut. */
  shutdown_grace_ms: 10_000,
  /**
   * How long a request may take to arrive: its headers from its first byte, and the whole request
   * (headers and a body of up to body_bytes_max) from the same moment; past either, node answers
   * 408 and closes the connection. Fastify's default is none, so a client that sends
   * `Content-Length: 1000000` and then nothing held its connection and its request for good. 30 s
   * lets a 1 MiB body come at 35 KB/s; checkouts send far less, far faster. Node looks for
   * overdue requests every http_timeout_check_ms, so one may run that much past its limit.
   */
  http_headers_timeout_ms: 10_000,
  http_request_timeout_ms: 30_000,
  http_timeout_check_ms: 1_000,
  /**
   * Authenticated HTTP requests, their body read, served at once per process; beyond it new ones
   * get 503 overloaded (edge load shedding in front of the engine's queue; see hardening.ts).
   */
  http_inflight_max: 10_000,
  /**
   * A chosen admin key (VOUCHSAFE_ADMIN_KEY): 32 characters and 8 different ones at least; at most
   * the longest key auth reads (api_key_chars_max in api-keys.ts). Generated keys have 55.
   */
  admin_key_chars_min: 32,
  admin_key_chars_max: 256,
  admin_key_distinct_chars_min: 8,
  /** Failed authentications (401) per client IP and window before it gets 429 rate_limited. */
  auth_failures_per_window_max: 20,
  auth_failure_window_ms: 60_000,
  /** Client IPs whose failed authentications one process remembers. */
  auth_failure_ips_max: 100_000,
} as const;
