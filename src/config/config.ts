/** Settings from the environment (API.md "Configuration"), parsed once. */
export interface Config {
  port: number;
  host: string;
  data_dir: string;
  database_url: string | undefined;
  redis_url: string | undefined;
  nats_url: string | undefined;
  admin_key: string | undefined;
  approval_threshold_minor: number;
  webhook_allow_private: boolean;
  log_level: string;
}

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${value}`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: int('PORT', env.PORT, 8080),
    host: env.HOST || '127.0.0.1',
    data_dir: env.VOUCHSAFE_DATA_DIR || './data',
    database_url: env.DATABASE_URL || undefined,
    redis_url: env.REDIS_URL || undefined,
    nats_url: env.NATS_URL || undefined,
    admin_key: env.VOUCHSAFE_ADMIN_KEY || undefined,
    approval_threshold_minor: int(
      'VOUCHSAFE_APPROVAL_THRESHOLD_MINOR',
      env.VOUCHSAFE_APPROVAL_THRESHOLD_MINOR,
      1_000_000,
    ),
    webhook_allow_private: env.VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE === '1',
    log_level: env.LOG_LEVEL || 'info',
  };
}
