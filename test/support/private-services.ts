import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** Fault tests must run in CI; elsewhere a missing binary skips them. */
export function mustRun(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  return (
    (ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false') || Boolean(process.env.VOUCHSAFE_TEST_DATABASE_URL)
  );
}

function pgBin(name: string): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  for (const version of readdirSync(root).sort().reverse()) {
    const path = join(root, version, 'bin', name);
    if (existsSync(path)) return path;
  }
  return null;
}

/** A PostgreSQL server of the test's own (never the machine's shared one), so it may be restarted at will. */
export interface PrivatePostgres {
  /** URL of database `vs` on it. */
  url: string;
  port: number;
  /** `fast`: clean shutdown that cuts every connection; `immediate`: like a crash (recovery on start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function asPostgres(args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', ...args], { timeout: 120_000 });
}

/**
 * initdb into a temp dir and pg_ctl start on a free port, run as the postgres user. fsync is
 * off: the tests restart the server process, never the machine, so the page cache survives.
 * Returns null when the binaries are missing (the caller skips, or fails under CI).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres | null> {
  const initdb = pgBin('initdb');
  const pg_ctl = pgBin('pg_ctl');
  if (!initdb || !pg_ctl || process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'vs-pg-'));
  const data = join(dir, 'data');
  chownSync(dir, systemId('-u', 'postgres'), systemId('-g', 'postgres'));
  await asPostgres([initdb, '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = () =>
    asPostgres([pg_ctl, '-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  await start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE vs');
  await admin.end();
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/vs`,
    port,
    stop: async (mode = 'fast') => {
      await asPostgres([pg_ctl, '-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
      stopped = true;
    },
    start: async () => {
      await start();
      stopped = false;
    },
    destroy: async () => {
      if (!stopped) await asPostgres([pg_ctl, '-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The numeric id of a system user or group (`id -u postgres`). */
function systemId(flag: '-u' | '-g', name: string): number {
  return Number(String(execFileSync('id', [flag, name])).trim());
}

/** A redis-server of the test's own on a free port, no persistence; kill and start it again at will. */
export interface PrivateRedis {
  url: string;
  port: number;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis | null> {
  const bin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
  if (!bin) return null;
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    const c = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 20_000);
      c.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (/Ready to accept connections/i.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: async () => {
      const c = child as ChildProcess | null;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = once(c, 'exit');
      c.kill('SIGKILL');
      await exited;
    },
    start,
  };
}
