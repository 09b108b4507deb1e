import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('SIGTERM to `npm start` (a container stopping it) reaches the server: it shuts down gracefully, npm exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-npm-start-'));
  const child = spawn('npm', ['start'], {
    cwd: root,
    env: { ...process.env, PORT: '0', VOUCHSAFE_DATA_DIR: dir, DATABASE_URL: '', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  let server_pid = 0;
  try {
    for (let i = 0; i < 1200 && !/serving on /.test(out); i++) await sleep(50);
    assert.match(out, /serving on /, out);
    server_pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
    assert.ok(server_pid > 0, out);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    // Generous bound: the server shuts down in well under a second once the signal reaches it.
    for (let i = 0; i < 300 && alive(server_pid); i++) await sleep(50);
    assert.equal(alive(server_pid), false, `the server outlived npm (orphaned, still serving):\n${out}`);
    assert.match(out, /"msg":"shut down"/, out);
    assert.equal(code, 0, out);
  } finally {
    if (server_pid > 0 && alive(server_pid)) process.kill(server_pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
