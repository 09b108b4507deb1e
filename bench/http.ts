import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { fmt, procCpuMs, type Section } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const admin_key = 'vs_bench_admin_key_000000000000000001';

async function start(args: string[], env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { url, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

interface Load {
  rps: number;
  p99_ms: number;
  p50_ms: number;
  non2xx: number;
  errors: number;
  /** CPU time (user + system, every thread) per answered request: the server's, and this process's (the load generator). */
  server_cpu_us: number | null;
  client_cpu_us: number;
}

/** A process's CPU time so far in ms; null elsewhere than Linux. */
function cpuMs(pid: number | undefined): number | null {
  return pid === undefined ? null : procCpuMs(`/proc/${pid}/stat`);
}

async function load(
  url: string,
  path: string,
  body: string,
  headers: Record<string, string>,
  seconds: number,
  server_pid: number | undefined,
): Promise<Load> {
  const server0 = cpuMs(server_pid);
  const client0 = process.cpuUsage();
  const r = await autocannon({
    url: `${url}${path}`,
    method: 'POST',
    connections: 64,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body,
    // `[<id>]` in a body becomes a new id per request: each redemption is of its own order.
    idReplacement: true,
  });
  const client = process.cpuUsage(client0);
  const server1 = cpuMs(server_pid);
  const answered = Math.max(1, r.requests.total);
  return {
    rps: r.requests.average,
    p99_ms: r.latency.p99,
    p50_ms: r.latency.p50,
    non2xx: r.non2xx,
    errors: r.errors,
    server_cpu_us: server0 === null || server1 === null ? null : ((server1 - server0) * 1000) / answered,
    client_cpu_us: (client.user + client.system) / answered,
  };
}

async function json(url: string, path: string, body: unknown, key = admin_key): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Sets up a shared-code campaign with a budget that will not run out during the run. */
async function hotCampaign(url: string): Promise<string> {
  const now = Date.now();
  // The campaign is made by a key the admin key mints, and approved by another it mints: a key it
  // mints may not approve the admin key's own campaigns (maker-checker follows key lineage).
  const maker = String((await json(url, '/v1/api-keys', { name: 'maker', scopes: ['admin'] })).key);
  const created = await json(
    url,
    '/v1/campaigns',
    {
      name: 'http bench',
      currency: 'CNY',
      discount: { type: 'fixed', amount_minor: 100 },
      min_spend_minor: 1000,
      product_kinds: ['merchandise'],
      audience: { type: 'public' },
      starts_at: new Date(now - 3_600_000).toISOString(),
      ends_at: new Date(now + 86_400_000).toISOString(),
      budget_minor: 900_000_000_000,
      max_redemptions: null,
      per_user_limit: null,
      code_mode: 'shared_code',
      code: 'HTTPBENCH',
    },
    maker,
  );
  const id = String(created.id);
  const submitted = await json(url, `/v1/campaigns/${id}/submit`, {}, maker);
  if (submitted.status !== 'active') {
    const approver = await json(url, '/v1/api-keys', { name: 'approver', scopes: ['approver'] });
    await json(url, `/v1/campaigns/${id}/approve`, {}, String(approver.key));
  }
  const co = await json(url, '/v1/api-keys', { name: 'checkout', scopes: ['checkout'] });
  return String(co.key);
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The rounds of one workload, summed up: medians, and the worst p99 (the target is a bound). */
interface Summary {
  rps: number;
  p50_ms: number;
  p99_worst_ms: number;
  non2xx: number;
  errors: number;
  server_cpu_us: number | null;
  client_cpu_us: number;
}

function summarize(loads: Load[]): Summary {
  const cpus = loads.map((l) => l.server_cpu_us).filter((c): c is number => c !== null);
  return {
    rps: median(loads.map((l) => l.rps)),
    p50_ms: median(loads.map((l) => l.p50_ms)),
    p99_worst_ms: Math.max(...loads.map((l) => l.p99_ms)),
    non2xx: loads.reduce((n, l) => n + l.non2xx, 0),
    errors: loads.reduce((n, l) => n + l.errors, 0),
    server_cpu_us: cpus.length === loads.length ? median(cpus) : null,
    client_cpu_us: median(loads.map((l) => l.client_cpu_us)),
  };
}

/**
 * HTTP end to end: confirmed redemptions, validations and the HTTP layer alone (see
 * http-layer-server.ts) against a Fastify hello-world, 64 connections, each server in its own
 * process. The workloads alternate over several rounds and each
 * ratio is the median of its rounds' ratios, so a burst of load from a neighbour on this shared
 * VM moves one round, not the figure.
 */
export async function httpSection(): Promise<Section> {
  const seconds = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
  const rounds = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);
  if (!Number.isSafeInteger(rounds) || rounds < 1)
    throw new Error(`BENCH_HTTP_ROUNDS must be 1 or more, got ${rounds}`);
  const hello = await start(['--import', 'tsx', 'bench/hello-server.ts'], {});
  const dir = mkdtempSync(join(tmpdir(), 'vs-bench-http-'));
  const node = await start(['bin/vouchsafe.js', 'serve'], {
    PORT: '0',
    VOUCHSAFE_DATA_DIR: dir,
    VOUCHSAFE_ADMIN_KEY: admin_key,
    LOG_LEVEL: 'warn',
  });
  const layerDir = mkdtempSync(join(tmpdir(), 'vs-bench-http-layer-'));
  const layer = await start(['--import', 'tsx', 'bench/http-layer-server.ts'], {
    VOUCHSAFE_DATA_DIR: layerDir,
    VOUCHSAFE_ADMIN_KEY: admin_key,
    LOG_LEVEL: 'warn',
  });
  const key = await hotCampaign(node.url);
  const layerKey = await hotCampaign(layer.url);
  const order = { id: 'o1', merchant_id: 'm1', amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' };
  // A campaign discounts an order once, so every redemption names a new order.
  const redeem = JSON.stringify({ user_id: 'u1', code: 'HTTPBENCH', confirm: true, order: { ...order, id: '[<id>]' } });
  // A validation (dry run) of the same order: read only, no commit.
  const validate = JSON.stringify({ user_id: 'u1', code: 'HTTPBENCH', order });
  const auth = { authorization: `Bearer ${key}` };
  const runs: Array<{ base: Load; red: Load; val: Load; layer: Load }> = [];
  const workloads = {
    base: () => load(hello.url, '/hello', '{"a":1}', {}, seconds, hello.child.pid),
    red: () => load(node.url, '/v1/redemptions', redeem, auth, seconds, node.child.pid),
    val: () => load(node.url, '/v1/validations', validate, auth, seconds, node.child.pid),
    layer: () =>
      load(layer.url, '/v1/redemptions', redeem, { authorization: `Bearer ${layerKey}` }, seconds, layer.child.pid),
  };
  const turns = ['base', 'red', 'val', 'layer'] as const;
  for (let i = 0; i < rounds; i++) {
    // The order turns each round, so no workload always follows the same one.
    const got: Partial<Record<(typeof turns)[number], Load>> = {};
    for (let j = 0; j < turns.length; j++) {
      const name = turns[(i + j) % turns.length] ?? 'base';
      got[name] = await workloads[name]();
    }
    const { base, red, val, layer: only } = got;
    if (!base || !red || !val || !only) throw new Error('a workload did not run');
    runs.push({ base, red, val, layer: only });
  }
  await stop(hello.child);
  await stop(node.child);
  await stop(layer.child);
  rmSync(dir, { recursive: true, force: true });
  rmSync(layerDir, { recursive: true, force: true });
  const base = summarize(runs.map((r) => r.base));
  const red = summarize(runs.map((r) => r.red));
  const val = summarize(runs.map((r) => r.val));
  const only = summarize(runs.map((r) => r.layer));
  const layerRatio = median(runs.map((r) => r.layer.rps / r.base.rps));
  const redRatio = median(runs.map((r) => r.red.rps / r.base.rps));
  const valRatio = median(runs.map((r) => r.val.rps / r.base.rps));
  const each = (pick: (r: { base: Load; red: Load; val: Load; layer: Load }) => number) =>
    runs.map((r) => fmt(pick(r), 2)).join(', ');
  return {
    title: 'HTTP end to end (SQLite, synchronous=FULL)',
    method: `autocannon, 64 connections, over loopback; the server and the baseline each run in their own process. ${rounds} rounds of ${seconds} s per workload, alternating (baseline, redemptions, validations, HTTP layer only, in an order that turns each round); figures are medians over the rounds, p99 the worst round's, and each ratio the median of its rounds' ratios. Redemptions are confirmed (auth, schema validation, group commit, durable commit); validations are dry runs of the same order. HTTP layer only: a third server, the same app, hooks, logger and store as \`vouchsafe serve\`, whose redemption route answers every request after the first with that first redemption (no queue, decision or commit), so it bounds what the route could serve if the engine cost nothing. Baseline: a bare Fastify hello-world POST.`,
    rows: [
      {
        what: 'POST /v1/redemptions (confirm: true)',
        figure: `${fmt(red.rps)} req/s, p50 ${red.p50_ms} ms, p99 ${red.p99_worst_ms} ms`,
        baseline: `${fmt(base.rps)} req/s, p99 ${base.p99_worst_ms} ms`,
        ratio: `${fmt(redRatio, 2)}x`,
        target: '>= 0.5x, p99 <= 20 ms',
      },
      {
        what: 'POST /v1/validations (dry run, read only)',
        figure: `${fmt(val.rps)} req/s, p50 ${val.p50_ms} ms, p99 ${val.p99_worst_ms} ms`,
        baseline: `${fmt(base.rps)} req/s, p99 ${base.p99_worst_ms} ms`,
        ratio: `${fmt(valRatio, 2)}x`,
      },
      {
        what: 'POST /v1/redemptions, HTTP layer only (engine answers a stored redemption)',
        figure: `${fmt(only.rps)} req/s, p50 ${only.p50_ms} ms, p99 ${only.p99_worst_ms} ms`,
        baseline: `${fmt(base.rps)} req/s, p99 ${base.p99_worst_ms} ms`,
        ratio: `${fmt(layerRatio, 2)}x`,
      },
    ],
    notes: [
      `ratio in each round: redemptions ${each((r) => r.red.rps / r.base.rps)}; validations ${each((r) => r.val.rps / r.base.rps)}; HTTP layer only ${each((r) => r.layer.rps / r.base.rps)}`,
      `non-2xx answers: ${red.non2xx + val.non2xx + base.non2xx + only.non2xx}, socket errors: ${red.errors + val.errors + base.errors + only.errors}`,
      `CPU per answered request (all threads, from /proc; medians): server ${cpu(red.server_cpu_us)} per redemption, ${cpu(val.server_cpu_us)} per validation, ${cpu(only.server_cpu_us)} per HTTP-layer-only redemption, ${cpu(base.server_cpu_us)} for hello-world; load generator ${cpu(red.client_cpu_us)}, ${cpu(val.client_cpu_us)}, ${cpu(only.client_cpu_us)} and ${cpu(base.client_cpu_us)}. Both servers are bound by their one JavaScript thread, so the ratio of server CPU per request is about the inverse of the throughput ratio.`,
      'Validations answer one at a time as requests arrive, while redemptions answer in bursts after each group commit; on this VM a socket write that must wake an idle client costs the most.',
    ],
  };
}

function cpu(us: number | null): string {
  return us === null ? 'n/a' : `${fmt(us, 1)} us`;
}
