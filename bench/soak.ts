// Soak: a mixed checkout workload against a real `vouchsafe serve` process for SOAK_SECONDS (default 600),
// with `vouchsafe verify` run against the same store every SOAK_VERIFY_EVERY_S seconds. Reports throughput,
// answers by code, latency, RSS over time and every invariant breach.
// Exit codes: 0 clean; 1 an invariant breach (live or final); 3 server errors (5xx other than 503) or hangs.
// Usage: npm run soak   (SOAK_SECONDS=120 SOAK_WORKERS=16 SOAK_SEED=1 DATABASE_URL=postgres://... optional)
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '../src/cli/simulate/prng.ts';
import { runChildrenAsNpmStart } from './report.ts';
import { percentile, SoakClient } from './soak-client.ts';
import { setUp, worker } from './soak-workload.ts';

runChildrenAsNpmStart();
const bin = fileURLToPath(new URL('../bin/vouchsafe.js', import.meta.url));
const seconds = Number(process.env.SOAK_SECONDS ?? 600);
const workers = Number(process.env.SOAK_WORKERS ?? 16);
const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
const verify_every_ms = Number(process.env.SOAK_VERIFY_EVERY_S ?? 5) * 1000;
const database_url = process.env.DATABASE_URL;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Breach {
  at_s: number;
  detail: string;
}

async function startServer(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { url, child };
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** `vouchsafe verify --json` on the store the server uses, from a second connection. */
async function verify(target: string[]): Promise<{ ok: boolean; ms: number; detail: string }> {
  const started = Date.now();
  const child = spawn(process.execPath, [bin, 'verify', '--json', ...target], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const ms = Date.now() - started;
  try {
    const report = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { ok?: boolean; violations?: unknown[] };
    return {
      ok: report.ok === true && code === 0,
      ms,
      detail: JSON.stringify(report.violations ?? out).slice(0, 2000),
    };
  } catch {
    return { ok: false, ms, detail: `verify exited ${code}: ${out.slice(0, 2000)}` };
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-soak-'));
  const admin = `vs_soak_${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    VOUCHSAFE_DATA_DIR: dir,
    VOUCHSAFE_ADMIN_KEY: admin,
    ...(database_url ? { DATABASE_URL: database_url } : {}),
  };
  const target = database_url ? ['--database-url', database_url] : ['--data-dir', dir];
  const server = await startServer(env);
  const c = new SoakClient(server.url, 10_000);
  const setup = await setUp(c, admin);
  process.stdout.write(
    `soak: ${seconds} s, ${workers} workers, seed ${seed}, store ${database_url ? 'PostgreSQL' : `SQLite in ${dir}`}\n`,
  );

  const t0 = Date.now();
  const elapsed_s = () => Math.round((Date.now() - t0) / 1000);
  let running = true;
  let envelope: string | null = null;
  const rss: Array<{ at_s: number; mib: number }> = [];
  const breaches: Breach[] = [];
  const verifies: number[] = [];
  const loops = [
    (async () => {
      for (let paused = false; running; paused = !paused) {
        await c.call(
          'pause_resume',
          admin,
          'POST',
          `/v1/campaigns/${setup.toggled.id}/${paused ? 'resume' : 'pause'}`,
          paused ? {} : { reason: 'soak' },
        );
        await sleep(2000);
      }
    })(),
    (async () => {
      while (running) {
        const expires_at = new Date(Date.now() + 20_000).toISOString();
        const e = await c.call('envelope', admin, 'POST', '/v1/red-envelopes', {
          currency: 'CNY',
          total_minor: 50_000,
          count: 300,
          expires_at,
        });
        if (e?.status === 201) envelope = String(e.body.id);
        await sleep(15_000);
      }
    })(),
    (async () => {
      while (running) {
        rss.push({ at_s: elapsed_s(), mib: rssMiB(server.child.pid) });
        await sleep(5000);
      }
    })(),
    (async () => {
      while (running) {
        const v = await verify(target);
        verifies.push(v.ms);
        if (!v.ok) breaches.push({ at_s: elapsed_s(), detail: v.detail });
        await sleep(verify_every_ms);
      }
    })(),
    (async () => {
      let last = 0;
      for (let tick = 1; running; tick++) {
        await sleep(1000);
        if (tick % 30 !== 0) continue;
        const total = [...c.ops.values()].reduce((a, s) => a + s.count, 0);
        const rate = ((total - last) / 30).toFixed(0);
        const line = `${rate} req/s, RSS ${rssMiB(server.child.pid).toFixed(0)} MiB, ${verifies.length} verifies, ${breaches.length} breaches`;
        process.stdout.write(`  ${elapsed_s()} s: ${line}\n`);
        last = total;
      }
    })(),
  ];
  const rnd = prng(seed);
  const ws = Array.from({ length: workers }, (_, w) =>
    worker(
      c,
      setup,
      w,
      prng(Math.floor(rnd() * 2 ** 31)),
      () => running,
      () => envelope,
    ),
  );
  await sleep(seconds * 1000);
  running = false;
  await Promise.all(ws);
  const duration_s = (Date.now() - t0) / 1000;
  await Promise.all(loops);
  const live = await verify(target);
  if (!live.ok) breaches.push({ at_s: elapsed_s(), detail: `quiet: ${live.detail}` });
  server.child.kill('SIGTERM');
  await once(server.child, 'exit');
  const offline = await verify(target);
  if (!offline.ok) breaches.push({ at_s: elapsed_s(), detail: `after shutdown: ${offline.detail}` });

  report(c, duration_s, rss, verifies, breaches);
  if (!database_url) rmSync(dir, { recursive: true, force: true });
  if (breaches.length > 0) return 1;
  return c.failures() > 0 ? 3 : 0;
}

function report(
  c: SoakClient,
  duration_s: number,
  rss: Array<{ at_s: number; mib: number }>,
  verifies: number[],
  breaches: Breach[],
): void {
  const total = [...c.ops.values()].reduce((a, s) => a + s.count, 0);
  const lines = [
    `\nsoak report: ${duration_s.toFixed(0)} s, ${total} requests, ${(total / duration_s).toFixed(0)} req/s`,
  ];
  lines.push('operation          count   req/s   p50 ms  p99 ms  answers');
  for (const [op, s] of [...c.ops].sort((a, b) => b[1].count - a[1].count)) {
    const answers = [...s.by_answer]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    const p50 = percentile(s.latencies_ms, 50).toFixed(1);
    const p99 = percentile(s.latencies_ms, 99).toFixed(1);
    lines.push(
      `${op.padEnd(18)} ${String(s.count).padStart(6)} ${(s.count / duration_s).toFixed(1).padStart(7)} ${p50.padStart(8)} ${p99.padStart(7)}  ${answers}`,
    );
  }
  const step = Math.max(1, Math.round(rss.length / 20));
  lines.push(
    `RSS MiB over time: ${rss
      .filter((_, i) => i % step === 0 || i === rss.length - 1)
      .map((r) => `${r.at_s}s=${r.mib.toFixed(0)}`)
      .join(' ')}`,
  );
  lines.push(
    `verify: ${verifies.length} runs while under load, max ${Math.max(0, ...verifies)} ms; invariant breaches: ${breaches.length}`,
  );
  for (const b of breaches) lines.push(`  BREACH at ${b.at_s} s: ${b.detail}`);
  lines.push(
    `server errors and hangs: ${c.failures()} (timeouts ${c.timeouts}, transport errors ${c.transport_errors})`,
  );
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  if (process.env.SOAK_REPORT) writeFileSync(process.env.SOAK_REPORT, text);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
