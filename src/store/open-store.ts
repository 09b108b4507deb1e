import { join } from 'node:path';
import type { Store } from './port.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

export interface OpenStoreOptions {
  /** DATABASE_URL; a postgres:// or postgresql:// URL selects PostgreSQL. */
  database_url?: string | undefined;
  /** Where the embedded SQLite file lives when no PostgreSQL URL is given. */
  data_dir: string;
  /** SQLite: checkpoint the WAL on a worker thread (a long-running server; not short CLI commands). */
  background_checkpoint?: boolean;
}

/**
 * Picks the adapter from configuration: PostgreSQL for a cluster, SQLite for one embedded
 * process. Any other URL is refused rather than silently falling back: N nodes each on its
 * own SQLite file would each spend the whole budget.
 */
export function openStore(opts: OpenStoreOptions): Store {
  const url = opts.database_url?.trim() ?? '';
  if (/^postgres(ql)?:\/\//i.test(url)) return new PostgresStore({ url });
  if (url !== '') throw new Error(`DATABASE_URL must start with postgres:// or postgresql://, got ${redact(url)}`);
  return new SqliteStore({
    path: join(opts.data_dir, 'vouchsafe.db'),
    background_checkpoint: opts.background_checkpoint ?? false,
  });
}

/** Only the scheme: a URL may carry a password, which never goes into a message. */
function redact(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  return scheme ? `${scheme}://...` : 'a value without a scheme';
}
