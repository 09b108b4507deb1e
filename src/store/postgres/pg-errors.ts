import { StoreUnavailable, UniqueViolation } from '../port.ts';

/** Socket errors that mean "the database is not there right now", not "the query is wrong". */
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * Transaction rollbacks the server chose, not the query's fault: a statement cancelled before it
 * finished (57014: statement_timeout, pg_cancel_backend), a serialization failure (40001), a
 * deadlock victim (40P01), a lock not granted in time (55P03: lock_timeout).
 */
const rolledBack = new Set(['57014', '40001', '40P01', '55P03']);

/**
 * SQLSTATEs of a server that is going away, starting up or full (classes 08, 57P, 53300), and of
 * a transaction it rolled back whole (rolledBack), so the same request may simply be retried.
 */
function unavailableSqlState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('57P') || code === '53300' || rolledBack.has(code);
}

/** Messages node-postgres raises without a code when a connection dies or never comes. */
const lostConnection =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Query read timeout/i;

/**
 * node-postgres' `query_timeout` fired: no answer came in time. The statement may still be running
 * (or its answer on the way), so the connection cannot take another one: it must be dropped.
 */
export function isAnswerTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === 'Query read timeout';
}

function codeOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err) return String(err.code);
  return '';
}

export function isUnavailable(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.some(isUnavailable);
  const code = codeOf(err);
  if (networkCodes.has(code) || unavailableSqlState(code)) return true;
  return err instanceof Error && lostConnection.test(err.message);
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (codeOf(err) !== '23505') return false;
  if (constraint === undefined) return true;
  return typeof err === 'object' && err !== null && 'constraint' in err && err.constraint === constraint;
}

/** Maps driver errors onto the port's errors; anything else (and bugs) passes through. */
export function mapPgError(err: unknown): unknown {
  if (err instanceof StoreUnavailable || err instanceof UniqueViolation) return err;
  if (isUnavailable(err)) return new StoreUnavailable(`PostgreSQL unavailable: ${messageOf(err)}`);
  if (isUniqueViolation(err)) return new UniqueViolation(messageOf(err));
  return err;
}

/** A connection that emitted 'error' is gone, whatever the error says: the store is unavailable. */
export function connectionLost(err: unknown): StoreUnavailable {
  const mapped = mapPgError(err);
  return mapped instanceof StoreUnavailable
    ? mapped
    : new StoreUnavailable(`PostgreSQL connection lost: ${messageOf(err)}`);
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError) return err.errors.map(messageOf).join('; ') || err.message;
  return err instanceof Error ? err.message : String(err);
}
