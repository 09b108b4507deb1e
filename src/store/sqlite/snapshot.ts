import type Database from 'better-sqlite3';

/** Calls inside each connection's open snapshot: the last one to finish commits. */
const users = new WeakMap<Database.Database, number>();

/**
 * Every read in `fn` sees one snapshot: a deferred transaction in WAL mode takes it at the
 * first read and keeps it while writers in other connections commit. Only reads may run.
 * Calls that overlap (nested or concurrent) share the snapshot already open, and only the
 * last to finish commits, so none has its later reads moved off it by another that finished first.
 */
export async function readSnapshot<T>(db: Database.Database, fn: () => Promise<T>): Promise<T> {
  const inside = users.get(db) ?? 0;
  if (inside === 0 && db.inTransaction) return fn();
  if (inside === 0) db.exec('BEGIN DEFERRED');
  users.set(db, inside + 1);
  try {
    return await fn();
  } finally {
    const left = (users.get(db) ?? 1) - 1;
    if (left > 0) users.set(db, left);
    else {
      users.delete(db);
      if (db.inTransaction) db.exec('COMMIT');
    }
  }
}
