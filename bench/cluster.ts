import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Engine } from '../src/engine/engine.ts';
import { verifyStore } from '../src/engine/verify.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { hotSpec } from './engine-hot.ts';
import { fmt, ratio, type Section } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const base = process.env.VOUCHSAFE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function withClient<T>(url: string, body: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await body(c);
  } finally {
    await c.end();
  }
}

async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `vs_bench_${Date.now().toString(36)}`;
  await withClient(base, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: () => withClient(base, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** The naive pattern: one transaction per redemption with SELECT ... FOR UPDATE on the budget row. */
async function naive(url: string, seconds: number, connections: number): Promise<number> {
  await withClient(url, async (c) => {
    await c.query('CREATE TABLE naive_budget (id INT PRIMARY KEY, available_minor BIGINT NOT NULL)');
    await c.query(
      'CREATE TABLE naive_redemptions (id BIGSERIAL PRIMARY KEY, user_id TEXT, order_id TEXT, discount_minor BIGINT)',
    );
    await c.query('INSERT INTO naive_budget VALUES (1, 900000000000)');
  });
  const pool = new pg.Pool({ connectionString: url, max: connections });
  let ok = 0;
  const until = Date.now() + seconds * 1000;
  const worker = async (w: number) => {
    for (let i = 0; Date.now() < until; i++) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const row = await c.query('SELECT available_minor FROM naive_budget WHERE id = 1 FOR UPDATE');
        if (Number(row.rows[0]?.available_minor) >= 100) {
          await c.query('INSERT INTO naive_redemptions (user_id, order_id, discount_minor) VALUES ($1, $2, 100)', [
            `u${w}`,
            `o${w}_${i}`,
          ]);
          await c.query('UPDATE naive_budget SET available_minor = available_minor - 100 WHERE id = 1');
        }
        await c.query('COMMIT');
        ok++;
      } finally {
        c.release();
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, w) => worker(w)));
  await pool.end();
  return ok / seconds;
}

function runNode(url: string, code: string, seconds: number, node: number): Promise<{ ok: number; refused: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/cluster-node.ts'], {
      cwd: root,
      env: {
        ...process.env,
        BENCH_PG_URL: url,
        BENCH_CODE: code,
        BENCH_SECONDS: String(seconds),
        BENCH_NODE: String(node),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (status) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as { ok: number; refused: number });
      } catch {
        reject(new Error(`cluster node ${node} exited ${status}: ${out}`));
      }
    });
  });
}

/** Three engine processes on one PostgreSQL against the naive row-lock-per-redemption pattern. */
export async function clusterSection(): Promise<Section> {
  const seconds = Number(process.env.BENCH_PG_SECONDS ?? 8);
  const db = await freshDatabase();
  try {
    const baseline = await naive(db.url, seconds, 32);
    const store = new PostgresStore({ url: db.url });
    const engine = await Engine.open(store, { approval_threshold_minor: Number.MAX_SAFE_INTEGER });
    const c = await engine.createCampaign(hotSpec(Date.now(), { code: 'CLUSTERHOT' }), { actor: 'maker' });
    const s = await engine.campaignAction(c.id, 'submit', { actor: 'maker' });
    if (s.status !== 'active') await engine.campaignAction(c.id, 'approve', { actor: 'checker' });
    // Start the clock once all three nodes have started their engines (startup is not throughput).
    const results = await Promise.all([0, 1, 2].map((n) => runNode(db.url, 'CLUSTERHOT', seconds, n)));
    const ok = results.reduce((a, r) => a + r.ok, 0);
    const per_s = ok / seconds;
    const report = await verifyStore(store);
    const after = await engine.getCampaign(c.id);
    await engine.close();
    await store.close();
    return {
      title: 'PostgreSQL cluster: one hot campaign, three nodes',
      method: `Three processes, each its own engine and pool (8 connections), 1,024 redemptions in flight per node for ${seconds} s against one campaign on one PostgreSQL 15 (this machine, fsync on). Baseline in the same run and database: 32 connections each running BEGIN; SELECT ... FOR UPDATE on the budget row; INSERT; UPDATE; COMMIT per redemption. Both sides share this 2-core machine with the database server.`,
      rows: [
        {
          what: '3 nodes, group commit (one row lock per batch)',
          figure: `${fmt(per_s)} /s`,
          baseline: `${fmt(baseline)} /s`,
          ratio: ratio(per_s, baseline),
          target: '>= 20x',
        },
      ],
      notes: [
        `verify after the run: ${report.ok ? 'all invariants hold' : 'VIOLATIONS FOUND'}; spent ${fmt(after.spent_minor)} minor = ${fmt(after.confirmed_count)} confirmed x 100`,
      ],
    };
  } finally {
    await db.drop();
  }
}
