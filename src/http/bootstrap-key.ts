import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { weakAdminKey } from '../config/config.ts';
import { IdGenerator } from '../engine/ids.ts';
import type { Store } from '../store/port.ts';
import { createFirstApiKey } from './api-keys.ts';

export interface BootstrapOptions {
  store: Store;
  /** Where admin.key goes when the key is random. */
  data_dir: string;
  /** VOUCHSAFE_ADMIN_KEY, if set. */
  admin_key?: string | undefined;
  now_ms?: number;
  ids?: IdGenerator;
  /** How the random key is shown once; defaults to stdout. */
  print?: (line: string) => void;
}

export type BootstrapResult =
  | { created: false }
  | { created: true; id: string; source: 'env' }
  /** `path`: null when admin.key could not be written (the key was printed all the same). */
  | { created: true; id: string; source: 'random'; secret: string; path: string | null };

/**
 * When the store has no API key, creates an admin key: VOUCHSAFE_ADMIN_KEY if set (a weak one
 * is refused: see weakAdminKey), otherwise a random one, printed once and written to
 * `<data dir>/admin.key` (0600). Of nodes starting together on a new store, one makes it.
 */
export async function ensureAdminKey(opts: BootstrapOptions): Promise<BootstrapResult> {
  // loadConfig refuses a weak key at start; this holds for callers that bring their own too.
  const weak = opts.admin_key ? weakAdminKey(opts.admin_key) : null;
  if (weak !== null) throw new Error(weak);
  if ((await opts.store.countApiKeys()) > 0) return { created: false };
  const ids = opts.ids ?? new IdGenerator();
  const now_ms = opts.now_ms ?? Date.now();
  const fromEnv = opts.admin_key !== undefined && opts.admin_key.length > 0;
  // Several nodes may start at once on a new store: the insert makes the key only if none exists by
  // then, so one of them makes it and the others go on without (a second key with the same
  // VOUCHSAFE_ADMIN_KEY would break the unique hash and stop that node; a random one per node would
  // leave several admin keys).
  const made = await createFirstApiKey(opts.store, ids, now_ms, {
    name: 'bootstrap admin',
    scopes: ['admin'],
    actor: null,
    ...(fromEnv ? { secret: opts.admin_key } : {}),
  });
  if (made === null) return { created: false };
  const { record, secret } = made;
  if (fromEnv) return { created: true, id: record.id, source: 'env' };
  const path = join(opts.data_dir, 'admin.key');
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The key is in the store now, so the next start makes none: it is printed whether or not the
  // file can be written (a PostgreSQL node on a read-only disk), never lost with a failed start.
  try {
    mkdirSync(opts.data_dir, { recursive: true, mode: 0o700 });
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch (err) {
    print(
      `vouchsafe: created the admin API key (shown once; could not write ${path}: ${(err as Error).message}): ${secret}`,
    );
    return { created: true, id: record.id, source: 'random', secret, path: null };
  }
  print(`vouchsafe: created the admin API key (shown once, also in ${path}): ${secret}`);
  return { created: true, id: record.id, source: 'random', secret, path };
}
