import { isIP } from 'node:net';
import { join } from 'node:path';
import { limits } from './limits.ts';

/**
 * Which proxies in front may name the client (X-Forwarded-For), as Fastify's trustProxy takes it:
 * none, all, or the proxies' addresses, CIDR ranges and proxy-addr's names (loopback, linklocal,
 * uniquelocal). Not a hop count: Fastify no longer honours one (it cannot tell a proxy from a
 * client that writes the header itself).
 */
export type TrustProxy = boolean | string[];

const proxyRangeNames = new Set(['loopback', 'linklocal', 'uniquelocal']);

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
  trust_proxy: TrustProxy;
  /** Where `serve` writes its audit digests (null: none), and how often (0: none). */
  audit_digest_dir: string | null;
  audit_digest_interval_s: number;
}

/** Whole decimal digits: Number() alone reads ' ' as 0, '0x50' as 80 and '1e3' as 1000. */
function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new Error(`${name} must be a non-negative integer, got ${value}`);
  return n;
}

/** An IPv4 or IPv6 address, optionally with a CIDR prefix length that fits it. */
function addressOrRange(text: string): boolean {
  if (proxyRangeNames.has(text)) return true;
  const [address = '', bits, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

function trustProxy(value: string | undefined): TrustProxy {
  const text = (value ?? '').trim();
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  const list = text.split(',').map((part) => part.trim());
  if (list.every(addressOrRange)) return list;
  throw new Error(
    `VOUCHSAFE_TRUST_PROXY must be true, false, or comma-separated proxy addresses, CIDR ranges or loopback, linklocal, uniquelocal, got ${value}`,
  );
}

/**
 * Why a chosen admin key (VOUCHSAFE_ADMIN_KEY) is refused, or null when it will do. Generated keys
 * are `vs_` and 52 base32 characters (256 random bits). A chosen one must be printable ASCII
 * without spaces (what a Bearer header carries), 32 characters or more (up to the 256 auth reads),
 * and not a few characters over and over (`adminadmin...`). Nothing here can tell a long phrase
 * from a random key, so the message says how to generate one; it never repeats the key.
 */
export function weakAdminKey(key: string): string | null {
  const generate = 'generate one with `openssl rand -hex 32`, or leave it unset for a random key';
  if (key.length < limits.admin_key_chars_min || key.length > limits.admin_key_chars_max) {
    return `VOUCHSAFE_ADMIN_KEY must be ${limits.admin_key_chars_min} to ${limits.admin_key_chars_max} characters long, got ${key.length}: ${generate}`;
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    return `VOUCHSAFE_ADMIN_KEY must be printable ASCII without spaces: ${generate}`;
  }
  if (new Set(key).size < limits.admin_key_distinct_chars_min) {
    return `VOUCHSAFE_ADMIN_KEY must not repeat a few characters over and over: ${generate}`;
  }
  return null;
}

function adminKey(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const weak = weakAdminKey(value);
  if (weak !== null) throw new Error(weak);
  return value;
}

/** The longest interval a timer can wait, in whole seconds (Node turns a longer delay into 1 ms). */
const digest_interval_s_max = Math.floor((2 ** 31 - 1) / 1000);

function digestInterval(value: string | undefined): number {
  const s = int('VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S', value, 3600);
  if (s > digest_interval_s_max) {
    throw new Error(
      `VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S must be at most ${digest_interval_s_max} (24.8 days), got ${value}`,
    );
  }
  return s;
}

/**
 * Where serve writes its audit digests: VOUCHSAFE_AUDIT_DIGEST_DIR, or beside the SQLite store in the
 * data dir; on PostgreSQL (DATABASE_URL) only where that is set, since a cluster node's data dir is
 * often throwaway and every node would write its own.
 */
function auditDigestDir(env: NodeJS.ProcessEnv): string | null {
  if (env.VOUCHSAFE_AUDIT_DIGEST_DIR) return env.VOUCHSAFE_AUDIT_DIGEST_DIR;
  if (env.DATABASE_URL) return null;
  return join(env.VOUCHSAFE_DATA_DIR || './data', 'audit-digests');
}

/** A TCP port; 0 asks the system for a free one (tests, and `serving on` says which). */
export function port(name: string, value: string | undefined, fallback: number): number {
  const n = int(name, value, fallback);
  if (n > 65_535) throw new Error(`${name} must be a port, 0-65535, got ${value}`);
  return n;
}

/**
 * A redis:// or rediss:// URL (or what ioredis also takes: host:port, a socket path). Another
 * scheme is a mistake ioredis would not report as one: it reads http://cache:6379 as a socket path,
 * and every velocity-limited campaign answers 503. Only the scheme is repeated: a URL may carry a password.
 */
function redisUrl(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (scheme !== undefined && !/^rediss?$/i.test(scheme)) {
    throw new Error(`REDIS_URL must start with redis:// or rediss://, got ${scheme}://...`);
  }
  return value;
}

/** `1` or `0`: a `true` or `yes` read as off would leave the operator wondering why webhooks are refused. */
function allowPrivate(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new Error(`VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE must be 1 or 0, got ${value}`);
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevel(value: string | undefined): string {
  if (value === undefined || value === '') return 'info';
  if (!logLevels.includes(value)) throw new Error(`LOG_LEVEL must be one of ${logLevels.join(', ')}, got ${value}`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: port('PORT', env.PORT, 8080),
    host: env.HOST || '127.0.0.1',
    data_dir: env.VOUCHSAFE_DATA_DIR || './data',
    database_url: env.DATABASE_URL || undefined,
    redis_url: redisUrl(env.REDIS_URL),
    nats_url: env.NATS_URL || undefined,
    admin_key: adminKey(env.VOUCHSAFE_ADMIN_KEY),
    approval_threshold_minor: int(
      'VOUCHSAFE_APPROVAL_THRESHOLD_MINOR',
      env.VOUCHSAFE_APPROVAL_THRESHOLD_MINOR,
      1_000_000,
    ),
    webhook_allow_private: allowPrivate(env.VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE),
    log_level: logLevel(env.LOG_LEVEL),
    trust_proxy: trustProxy(env.VOUCHSAFE_TRUST_PROXY),
    audit_digest_dir: auditDigestDir(env),
    audit_digest_interval_s: digestInterval(env.VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S),
  };
}
