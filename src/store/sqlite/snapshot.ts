import type Database from 'better-sqlite3';

/**
 * Every read in `fn` sees one snapshot: a deferred transaction in WAL mode takes it at the
 * first read and keeps it while writers in other connections commit. Only reads may run.
 */
export async function readSnapshot<T>(db: Database.Database, fn: () => Promise<T>): Promise<T> {
  if (db.inTransaction) return fn();
  db.exec('BEGIN DEFERRED');
  try {
    return await fn();
  } finally {
    if (db.inTransaction) db.exec('COMMIT');
  }
}
