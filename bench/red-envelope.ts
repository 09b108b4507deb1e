import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { RedEnvelopeTerms } from '../src/domain/red-envelope-campaign.ts';
import { Engine } from '../src/engine/engine.ts';
import { verifyStore } from '../src/engine/verify.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { fmt, ratio, type Section } from './report.ts';

const hour_ms = 3_600_000;
const root = fileURLToPath(new URL('..', import.meta.url));

function terms(count: number): RedEnvelopeTerms {
  return {
    currency: 'CNY',
    total_minor: count * 888,
    count,
    min_amount_minor: 1,
    expires_at_ms: Date.now() + hour_ms,
    coupon: { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 },
  };
}

interface Bed {
  engine: Engine;
  store: SqliteStore;
  envelope_id: string;
  done(): Promise<{ verify_ok: boolean; grabbed: number; exact: boolean }>;
}

/** A durable SQLite store (synchronous=FULL, as the engine bench) with one envelope of `count` packets. */
async function bed(batch_commands_max: number, count: number): Promise<Bed> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-bench-env-'));
  const store = new SqliteStore({ path: join(dir, 'bench.db'), synchronous: 'FULL', background_checkpoint: true });
  const engine = await Engine.open(store, { batch_commands_max, wantsEvent: () => false });
  const c = await engine.envelopes.create(terms(count), { actor: 'bench' });
  // Its total is above the approval threshold: a second key approves it, as in production.
  if (c.status === 'pending_approval') await engine.campaignAction(c.id, 'approve', { actor: 'bench-approver' });
  const envelope_id = c.red_envelope?.id ?? '';
  return {
    engine,
    store,
    envelope_id,
    async done() {
      const env = (await engine.envelopes.get(envelope_id)).red_envelope;
      const report = await verifyStore(store);
      await engine.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      const grabbed = env?.grabbed_count ?? 0;
      return { verify_ok: report.ok, grabbed, exact: grabbed < count || env?.grabbed_minor === env?.total_minor };
    },
  };
}

interface Run {
  grabs: number;
  per_s: number;
  verify_ok: boolean;
  exact: boolean;
}

/** `count` users grab one envelope of `count` packets in-process, `concurrency` in flight at a time. */
async function runInProcess(batch_commands_max: number, count: number, concurrency: number): Promise<Run> {
  const b = await bed(batch_commands_max, count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++)
      await b.engine.envelopes.grab(b.envelope_id, `u${i}`, { actor: 'bench' });
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const end = await b.done();
  return { grabs: end.grabbed, per_s: count / seconds, verify_ok: end.verify_ok, exact: end.exact };
}

/** Starts the benchmark server (red-envelope-server.ts) in its own process; resolves once it listens. */
async function startServer(
  env: Record<string, string>,
): Promise<{ url: string; envelope_id: string; key: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/red-envelope-server.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\{.*\})\nserving on (http:\/\/\S+)/m.exec(out);
      if (!m?.[1] || !m[2]) return;
      const { envelope_id, key } = JSON.parse(m[1]) as { envelope_id: string; key: string };
      resolve({ url: m[2], envelope_id, key, child });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited ${code}: ${out}`)));
  });
}

/** The same over HTTP: the server in its own process, autocannon here, one new user per request. */
async function runHttp(batch_commands_max: number, count: number, connections: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-bench-env-http-'));
  const path = join(dir, 'bench.db');
  const server = await startServer({
    BENCH_DB: path,
    BENCH_BATCH: String(batch_commands_max),
    BENCH_PACKETS: String(count),
  });
  let user = 0;
  // Timed here, from the first request sent to the last answer: autocannon's own `duration`
  // ends on its once-a-second tick, which for a run of a second or two overstates it by up to 50%.
  let first_ms = 0;
  let last_ms = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${server.url}/v1/red-envelopes/${server.envelope_id}/grab`,
        connections,
        amount: count,
        method: 'POST',
        headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (req) => {
              if (user === 0) first_ms = performance.now();
              return { ...req, body: JSON.stringify({ user_id: `h${user++}` }) };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', () => {
      last_ms = performance.now();
    });
  });
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  await exited;
  const store = new SqliteStore({ path });
  const env = (await store.getCampaign((await store.redEnvelopeCampaignId(server.envelope_id)) ?? ''))?.red_envelope;
  const report = await verifyStore(store);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const grabbed = env?.grabbed_count ?? 0;
  const exact = result['2xx'] === count && grabbed === count && env?.grabbed_minor === env?.total_minor;
  return { grabs: grabbed, per_s: result.requests.total / ((last_ms - first_ms) / 1000), verify_ok: report.ok, exact };
}

/** Grabs per second on one hot envelope: group commit against one transaction per grab, in-process and over HTTP. */
export async function redEnvelopeSection(): Promise<Section> {
  const packets = Number(process.env.BENCH_ENVELOPE_PACKETS ?? 100_000);
  const http_packets = Number(process.env.BENCH_ENVELOPE_HTTP_PACKETS ?? 20_000);
  const grouped = await runInProcess(1024, packets, 4096);
  const naive = await runInProcess(1, 3000, 64);
  const http = await runHttp(1024, http_packets, 256);
  const httpNaive = await runHttp(1, 2000, 64);
  const runs = [grouped, naive, http, httpNaive];
  return {
    title: 'Red envelopes: one hot envelope (SQLite, WAL, synchronous=FULL)',
    method: `One envelope of ${fmt(packets)} pre-split packets grabbed by as many users, 4,096 grabs in flight, in-process; then ${fmt(http_packets)} grabs over HTTP (autocannon, 256 connections, over loopback, the server in its own process). Each grab issues a fixed-value coupon, bumps the grabber's claim counter and marks its packet. Baselines: the same with batches of one command, i.e. one durable transaction per grab. Every run ends with \`verify\`.`,
    rows: [
      {
        what: 'grabs per second, in-process (group commit)',
        figure: `${fmt(grouped.per_s)} /s`,
        baseline: `${fmt(naive.per_s)} /s`,
        ratio: ratio(grouped.per_s, naive.per_s),
        target: '>= 50,000 /s',
      },
      {
        what: 'grabs per second over HTTP (group commit)',
        figure: `${fmt(http.per_s)} /s`,
        baseline: `${fmt(httpNaive.per_s)} /s`,
        ratio: ratio(http.per_s, httpNaive.per_s),
      },
    ],
    notes: [
      `every packet grabbed exactly once and the grabs sum to the total: ${runs.every((r) => r.exact) ? 'yes' : 'NO'}`,
      `verify after each run: ${runs.every((r) => r.verify_ok) ? 'all invariants hold' : 'VIOLATIONS FOUND'}`,
    ],
  };
}
