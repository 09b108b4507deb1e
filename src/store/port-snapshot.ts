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
}
