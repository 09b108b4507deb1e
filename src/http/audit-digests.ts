import { linkSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AuditDigest, makeDigest } from '../engine/audit-digest.ts';
import type { Store } from '../store/port.ts';

/**
 * Writes a file that must not exist yet, whole or not at all: the text goes to a temporary file
 * beside it, which is then linked to its name (refused if the name exists), so an earlier digest is
 * never overwritten and a failure half-way leaves no half-written digest under that name.
 */
export function writeNew(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { flag: 'wx' });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${path} already exists: a digest is never written over another`);
    }
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

export interface AuditDigestsOptions {
  /** Where each digest is written, one file each (`<created_at>.json`). */
  dir: string;
  /** Between two digests; the first is taken at start. */
  interval_ms: number;
  now: () => number;
  /** Each digest's line (its value is what to keep outside the database), or a failure (with `error`). */
  log: (msg: string, data: Record<string, unknown>) => void;
}

/**
 * Takes an audit digest at start and then every interval, writes it to the directory and logs its
 * value: shipped off the machine with the logs, the value is kept where the database's writers cannot
 * reach, and `vouchsafe verify --digest <file> --expect <value>` holds the store to any of them. A
 * failed digest is logged and the next one tried at its time. stop() waits for one being written.
 */
export function startAuditDigests(store: Store, opts: AuditDigestsOptions): { stop(): Promise<void> } {
  const stopping = new AbortController();
  const take = async (): Promise<void> => {
    try {
      const digest: AuditDigest = makeDigest(await store.auditHeads(), opts.now());
      mkdirSync(opts.dir, { recursive: true });
      const file = join(opts.dir, `${digest.created_at.replace(/[:.]/g, '-')}.json`);
      writeNew(file, `${JSON.stringify(digest, null, 2)}\n`);
      opts.log('audit digest taken: keep its value outside the database', {
        digest: digest.digest,
        created_at: digest.created_at,
        chains: digest.chains,
        file,
      });
    } catch (err) {
      opts.log('audit digest failed', { error: err instanceof Error ? err.message : String(err) });
    }
  };
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      await take();
      try {
        await sleep(opts.interval_ms, undefined, { signal: stopping.signal, ref: false });
      } catch {
        return;
      }
    }
  })();
  return {
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
}
