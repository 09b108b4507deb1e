import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { StoreUnavailable } from '../port.ts';
import { connectionLost, mapPgError } from './pg-errors.ts';

/** One pooled connection pinned in a REPEATABLE READ READ ONLY transaction, and how many calls use it. */
class Snapshot {
  /** Set once BEGIN has run; every read of the store goes here meanwhile. */
  client: pg.PoolClient | null = null;
  /** Settles when the transaction is open, or could not be opened. */
  readonly opened: Promise<void>;
  users = 0;
  /** What broke the connection ('error' event, failed COMMIT): the client is destroyed, not pooled. */
  failure: Error | null = null;
  /** Heard while the client is checked out: unheard, a lost server's 'error' would crash the process. */
  private readonly onError = (err: Error) => {
    this.failure ??= err;
  };

  constructor(pool: pg.Pool) {
    this.opened = this.open(pool);
  }

  private async open(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    client.on('error', this.onError);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (err) {
      client.removeListener('error', this.onError);
      client.release(asError(err));
      throw err;
    }
    this.client = client;
  }

  /** Ends the transaction and gives the connection back, or destroys it if it broke. */
  async close(): Promise<void> {
    const client = this.client;
    if (client === null) return;
    this.client = null;
    if (this.failure === null) await client.query('COMMIT').catch((err: unknown) => this.onError(asError(err)));
    client.removeListener('error', this.onError);
    client.release(this.failure ?? undefined);
  }
}

/**
 * PostgresStore.readSnapshot. Calls that overlap share one snapshot: a nested or concurrent
 * call runs its `fn` inside the transaction already open (one consistent view, though it may
 * be older than the call), and only the last call to finish commits and gives the connection
 * back. So no call has its later reads moved off the snapshot, or onto a connection already
 * given back, because another call finished first.
 */
export class PinnedSnapshots {
  private current: Snapshot | null = null;
  /**
   * The snapshot of the call whose `fn` is running. Only reads made from inside a call go to
   * its connection: the rest of the process (other requests, the dispatcher, the sweeper) keeps
   * reading and writing through the pool while a verify runs.
   */
  private readonly scope = new AsyncLocalStorage<Snapshot>();

  constructor(private readonly pool: pg.Pool) {}

  /** The connection this call's reads go to: its snapshot's inside a run, else null (the pool). */
  get client(): pg.PoolClient | null {
    return this.scope.getStore()?.client ?? null;
  }

  /**
   * A read of this call's snapshot got no answer in time (isAnswerTimeout): its connection may
   * still be busy with it, so the snapshot is over; closing it drops the connection, no COMMIT.
   */
  answerLost(err: Error): void {
    const snap = this.scope.getStore();
    if (snap) snap.failure ??= err;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const snap = this.current ?? new Snapshot(this.pool);
    this.current = snap;
    snap.users += 1;
    try {
      await snap.opened;
      const value = await this.scope.run(snap, fn);
      // fn may have caught a failed read: a snapshot that broke on the way gives no answer.
      if (snap.failure !== null) throw connectionLost(snap.failure);
      return value;
    } catch (err) {
      // A read on the dead connection only says "not queryable"; the 'error' it emitted says why.
      if (snap.failure !== null && err instanceof StoreUnavailable) throw connectionLost(snap.failure);
      throw mapPgError(err);
    } finally {
      snap.users -= 1;
      if (snap.users === 0) {
        if (this.current === snap) this.current = null;
        await snap.close();
      }
    }
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
