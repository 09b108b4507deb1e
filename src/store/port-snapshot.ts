import type { Store } from './port.ts';

/** Consistent reads for checkers that run while other processes write (verify against a live store). */
export interface SnapshotStore {
  /**
   * Runs `fn` with every read of this store instance seeing one snapshot: a read-only
   * transaction (SQLite: BEGIN in WAL mode; PostgreSQL: REPEATABLE READ READ ONLY on one
   * connection). Without it, verify reads a campaign row and its redemptions at different
   * moments and reports a batch that committed in between as a violation. Meant for an
   * instance that does nothing else meanwhile (the verify CLI's own connection).
   */
  readSnapshot<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * A long consistent read in a process that goes on serving: `fn` reads through `reader`, all
   * of it one snapshot, while this store keeps writing through its own connection. When `apart`
   * is true `fn` may yield to the event loop between reads. SQLite: a read-only connection of its
   * own to the file, closed after; an in-memory database has no second connection, so there
   * `reader` is this store inside readSnapshot and `apart` is false: `fn` must not yield (a write
   * made meanwhile would join the read transaction). PostgreSQL: readSnapshot (its pinned
   * connection; the pool serves the rest), `apart` true.
   */
  readSnapshotApart<T>(fn: (reader: Store, apart: boolean) => Promise<T>): Promise<T>;
}
