import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AuditDigest, makeDigest } from '../engine/audit-digest.ts';
import type { Store } from '../store/port.ts';
import { waitAtMost } from './wait-at-most.ts';

/** The longest a timer can wait (Node turns a longer delay into 1 ms). */
export const digest_interval_ms_max = 2 ** 31 - 1;

/** How long shutdown waits for a digest being taken before closing the store under it. */
const stop_wait_ms = 5000;

/** Writes `text` to a new file at `path` (wx: never over another) and syncs it to disk. */
function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Syncs a directory, so a name just made in it survives a power loss. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Errors of a filesystem without hard links (FAT, many FUSE and network mounts). */
const no_links: ReadonlySet<string | undefined> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * Writes a file that must not exist yet, whole or not at all, synced to disk: the text goes to a
 * temporary file beside it, which is then linked to its name (refused if the name exists), so an
 * earlier digest is never overwritten and a failure or power loss half-way leaves no half-written
 * file under that name. Where the filesystem has no hard links, the file is created under its name
 * (still never over another) and removed again if writing it fails.
 */
export function writeNew(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeDurably(tmp, text);
  try {
    linkSync(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    unlinkSync(tmp);
    if (code === 'EEXIST') throw new Error(`${path} already exists: a digest is never written over another`);
    if (!no_links.has(code)) throw err;
    try {
      writeDurably(path, text);
    } catch (again) {
      // Written in part (not someone else's file, which wx refused): removed, so no half digest stays.
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') {
        try {
          unlinkSync(path);
        } catch {}
      }
      throw again;
    }
    syncDir(dirname(path));
    return;
  }
  // The file stands under its name: a temporary name that cannot be removed (an append-only
  // directory) does not undo that.
  try {
    unlinkSync(tmp);
  } catch {}
  syncDir(dirname(path));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface AuditDigestsOptions {
  /** Where each digest is written, one file each (`<created_at with : and . as ->.json`). */
  dir: string;
  /** Between two digests; the first is taken at start. At most digest_interval_ms_max. */
  interval_ms: number;
  now: () => number;
  /** Each digest's line (its value is what to keep outside the database), or a failure (with `error`). */
  log: (msg: string, data: Record<string, unknown>) => void;
  /** Sends each digest written on (the `audit.digest` webhook event); a failure is logged, the digest stands. */
  announce?: (event: AuditDigestEvent) => Promise<void>;
}

/**
 * What the `audit.digest` event carries: the value and its file's name in the digest directory, not
 * every head (the file has them), nor the server's paths.
 */
export interface AuditDigestEvent {
  digest: string;
  created_at: string;
  chains: number;
  file: string;
}

/**
 * Takes an audit digest at start (before it returns) and then every interval, writes it to the
 * directory and logs its value: shipped off the machine with the logs, the value is kept where the
 * database's writers cannot reach, and `vouchsafe verify --digest <file> --expect <value>` holds the
 * store to any of them. A failed digest is logged and the next one tried at its time. stop() waits
 * a few seconds at most for one being taken.
 */
export async function startAuditDigests(store: Store, opts: AuditDigestsOptions): Promise<{ stop(): Promise<void> }> {
  if (!(opts.interval_ms > 0 && opts.interval_ms <= digest_interval_ms_max)) {
    throw new Error(`an audit digest interval must be 1 to ${digest_interval_ms_max} ms, got ${opts.interval_ms}`);
  }
  const dir = resolve(opts.dir);
  const stopping = new AbortController();
  const take = async (): Promise<void> => {
    let taken: AuditDigestEvent;
    try {
      const digest: AuditDigest = makeDigest(await store.auditHeads(), opts.now());
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${digest.created_at.replace(/[:.]/g, '-')}.json`);
      writeNew(file, `${JSON.stringify(digest, null, 2)}\n`);
      taken = { digest: digest.digest, created_at: digest.created_at, chains: digest.chains, file: basename(file) };
      opts.log('audit digest taken: keep its value outside the database', { ...taken, file });
    } catch (err) {
      opts.log('audit digest failed', { error: messageOf(err) });
      return;
    }
    try {
      await opts.announce?.(taken);
    } catch (err) {
      opts.log('audit digest event failed (the digest is written)', { error: messageOf(err), digest: taken.digest });
    }
  };
  await take();
  const loop = (async () => {
    for (;;) {
      try {
        await sleep(opts.interval_ms, undefined, { signal: stopping.signal, ref: false });
      } catch {
        return;
      }
      await take();
    }
  })();
  return {
    stop: async () => {
      stopping.abort();
      await waitAtMost(loop, stop_wait_ms);
    },
  };
}
