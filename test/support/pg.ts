import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { pgTables } from '../../src/store/postgres/schema.ts';

/** The server tests use: a database on it is only connected to, never written; each test file gets its own. */
export const pg_base_url = process.env.VOUCHSAFE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const probe_timeout_ms = 3000;

/** The URL without its password, for messages. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export const pg_unavailable_message = `PostgreSQL not reachable at ${shown(pg_base_url)}: start it or point VOUCHSAFE_TEST_DATABASE_URL at one (under CI, or with that variable set, this fails instead of skipping)`;

/**
 * PostgreSQL tests must run, not skip, under CI (CI set to anything but '', 0, false) and
 * whenever VOUCHSAFE_TEST_DATABASE_URL names a server on purpose (as .ci/run does).
 */
function mustRun(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  const inCi = ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
  return inCi || Boolean(process.env.VOUCHSAFE_TEST_DATABASE_URL);
}

export interface TestDatabase {
  url: string;
  /** Drops the database, closing whatever connections are left. */
  drop(): Promise<void>;
}

async function admin<T>(body: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pg_base_url, connectionTimeoutMillis: probe_timeout_ms });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates `vs_test_<random>` for one test file. Returns null (the suite skips) when the
 * server is unreachable, except under CI, where a missing database is a failure.
 */
export async function createTestDatabase(): Promise<TestDatabase | null> {
  const name = `vs_test_${randomBytes(6).toString('hex')}`;
  try {
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
  } catch (err) {
    const why = err instanceof Error ? err.message || err.name : String(err);
    if (mustRun()) throw new Error(`${pg_unavailable_message} (${why})`);
    process.stderr.write(`# ${pg_unavailable_message} (${why})\n`);
    return null;
  }
  const url = new URL(pg_base_url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}

/** A migrated store on an emptied database: every contract test starts from nothing. */
export async function freshPostgresStore(db: TestDatabase): Promise<PostgresStore> {
  const store = new PostgresStore({ url: db.url });
  await store.migrate();
  await resetTables(db.url);
  return store;
}

async function resetTables(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`TRUNCATE ${pgTables.join(', ')} RESTART IDENTITY`);
  } finally {
    await client.end();
  }
}

/** A copy of `from` (CREATE DATABASE ... TEMPLATE): nothing may be connected to `from` meanwhile. */
export async function copyTestDatabase(from: TestDatabase): Promise<TestDatabase> {
  const source = new URL(from.url).pathname.slice(1);
  const name = `vs_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${source}`));
  const url = new URL(from.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
