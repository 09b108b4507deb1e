import { statSync } from 'node:fs';
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
  /**
   * Refuse a store that does not exist yet (SQLite: no database file in the data dir, or one that
   * holds no Vouchsafe store, which is left as it was) instead of creating an empty one: a command that only reads, such as verify, would otherwise report an
   * empty store as sound when given a mistyped path.
   */
  existing?: boolean;
  /**
   * Implies `existing`. SQLite: a read-only connection, which neither migrates nor switches the
   * journal mode, so a store on a read-only disk or of another user (a backup, a copy kept for an
   * inquiry) can be read and is left byte for byte as it was.
   */
  read_only?: boolean;
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
  const path = join(opts.data_dir, 'vouchsafe.db');
  if ((opts.existing || opts.read_only) && (!fileThere(path) || !SqliteStore.holdsStore(path))) {
    throw new Error(`no store at ${path}: check --data-dir or VOUCHSAFE_DATA_DIR (vouchsafe serve creates one)`);
  }
  if (opts.read_only) return new SqliteStore({ path, readonly: true });
  return new SqliteStore({
    path,
    background_checkpoint: opts.background_checkpoint ?? false,
  });
}

/** Only the scheme: a URL may carry a password, which never goes into a message. */
function redact(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  return scheme ? `${scheme}://...` : 'a value without a scheme';
}

/**
 * Whether a file is at `path`: false only when nothing is there. A data dir this user may not
 * enter is said so (EACCES), not reported as holding no store, which would send the operator
 * looking for a mistyped path.
 */
function fileThere(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}
