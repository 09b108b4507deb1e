const KiB = 1024;
const MiB = 1024 * KiB;

/** Every bound in one place, with its unit in its name. */
export const limits = {
  body_bytes_max: 1 * MiB,
  batch_commands_max: 1024,
  queue_commands_max: 50_000,
  codes_per_request_max: 100_000,
  list_limit_max: 100,
  list_limit_default: 20,
  name_chars_max: 128,
  hold_ms_default: 15 * 60_000,
  idempotency_ttl_ms: 24 * 60 * 60_000,
  expired_holds_per_sweep_max: 5_000,
  sweep_interval_ms: 1_000,
  allowlist_users_max: 100_000,
  merchant_ids_max: 10_000,
  tiers_max: 20,
} as const;
