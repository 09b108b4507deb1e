import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const bin = fileURLToPath(new URL('../../bin/vouchsafe.js', import.meta.url));

/** The CLI as a user who may not enter the data dir: root passes any mode, so as nobody (setpriv) then. */
async function runDenied(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const asRoot = process.getuid?.() === 0;
  const argv = asRoot
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, ...args]]
    : [process.execPath, [bin, ...args]];
  const child = spawn(argv[0] as string, argv[1] as string[], {
    env: { ...process.env, HOME: tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out };
}

const root = mkdtempSync(join(tmpdir(), 'vouchsafe-access-'));
chmodSync(root, 0o755);
after(() => rmSync(root, { recursive: true, force: true }));

test('a data dir the user may not enter is said so, not called a dir with no store', async () => {
  const dir = join(root, 'data');
  await new SqliteStore({ path: join(dir, 'vouchsafe.db') }).close();
  chmodSync(dir, 0o700);
  if (process.getuid?.() !== 0) chmodSync(dir, 0o000);
  try {
    for (const args of [['verify'], ['keys', 'list']]) {
      const run = await runDenied(args, { VOUCHSAFE_DATA_DIR: dir });
      assert.equal(run.code, 1, run.out);
      assert.match(run.out, /^vouchsafe: cannot read .*vouchsafe\.db: EACCES: permission denied/, args.join(' '));
      assert.doesNotMatch(run.out, /no store at/);
    }
  } finally {
    chmodSync(dir, 0o700);
  }
});
