import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Engine } from '../src/engine/engine.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { hotSpec } from './engine-hot.ts';
import { fmt, procCpuMs, type Row, ratio, type Section } from './report.ts';

interface Run {
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU time of this process (every thread: the engine's, the checkpointer's, GC) per redemption. */
  cpu_us: number;
  /** The same for the main thread alone (the one that bounds throughput); null off Linux. */
  main_cpu_us: number | null;
}

/** The main thread's CPU time so far in ms; null elsewhere than Linux. */
function mainThreadCpuMs(): number | null {
  return procCpuMs(`/proc/self/task/${process.pid}/stat`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** `total` confirmed redemptions spread over `codes`, 256 in flight; latency per request. */
async function fire(engine: Engine, codes: string[], total: number): Promise<Run> {
  const lat: number[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < total; i = next++) {
      const t = performance.now();
      await engine.redeem(
        {
          user_id: `u${i}`,
          code: codes[i % codes.length] ?? '',
          order: {
            id: `o${i}`,
            merchant_id: `m${i % 100}`,
            amount_minor: 5000,
            currency: 'CNY',
            product_kind: 'merchandise',
          },
          confirm: true,
        },
        { actor: 'bench' },
      );
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  await Promise.all(Array.from({ length: 256 }, worker));
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuMs();
  const s = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    per_s: total / s,
    p50_ms: percentile(lat, 0.5),
    p99_ms: percentile(lat, 0.99),
    cpu_us: (cpu.user + cpu.system) / total,
    main_cpu_us: main0 === null || main1 === null ? null : ((main1 - main0) * 1000) / total,
  };
}

async function withEngine<T>(body: (engine: Engine, path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-scale-'));
  const path = join(dir, 'scale.db');
  const store = new SqliteStore({ path, synchronous: 'FULL', background_checkpoint: true });
  const engine = await Engine.open(store, {
    approval_threshold_minor: Number.MAX_SAFE_INTEGER,
    wantsEvent: () => false,
  });
  try {
    return await body(engine, path);
  } finally {
    await engine.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function launch(engine: Engine, code: string): Promise<void> {
  const c = await engine.createCampaign(hotSpec(Date.now(), { code, name: code }), { actor: 'maker' });
  const s = await engine.campaignAction(c.id, 'submit', { actor: 'maker' });
  if (s.status !== 'active') await engine.campaignAction(c.id, 'approve', { actor: 'checker' });
}

/** Redemptions spread over N live campaigns: does a big catalogue slow checkout down? */
async function byCampaigns(n: number, total: number): Promise<Run> {
  return withEngine(async (engine) => {
    const codes = Array.from({ length: n }, (_, i) => `SCALE${i}`);
    for (const code of codes) await launch(engine, code);
    return fire(engine, codes, total);
  });
}

/** One hot campaign on a table that already holds `rows` redemptions of an older campaign. */
async function byStored(rows: number, total: number): Promise<Run> {
  return withEngine(async (engine, path) => {
    await launch(engine, 'HISTORY');
    const history = await engine.codes.route({ code: 'HISTORY' });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const one = `(${Array(16).fill('?').join(', ')})`;
    const ins = db.prepare(
      `INSERT INTO redemptions (id, campaign_id, coupon_id, user_id, merchant_id, order_id, order_amount_minor, currency, product_kind, discount_minor, status, hold_expires_at_ms, device_id, ip, created_at_ms, updated_at_ms) VALUES ${Array(50).fill(one).join(', ')}`,
    );
    const fill = db.transaction((from: number) => {
      for (let i = from; i < from + 100_000 && i < rows; i += 50) {
        const args: unknown[] = [];
        for (let j = i; j < i + 50; j++) {
          args.push(
            `rdm_0hist${j.toString(36).padStart(12, '0')}`,
            history.campaign_id,
            history.coupon_id,
            `h${j % 100_000}`,
            `m${j % 100}`,
            `ho${j}`,
            5000,
            'CNY',
            'merchandise',
            100,
            'released',
            null,
            null,
            null,
            1,
            1,
          );
        }
        ins.run(args);
      }
    });
    for (let from = 0; from < rows; from += 100_000) fill(from);
    // The fill ran unsynced: checkpoint it and flush the file now, so the measured run does not
    // pay for writing the setup's gigabytes to disk.
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const fd = openSync(path, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    await launch(engine, 'HOT');
    return fire(engine, ['HOT'], total);
  });
}

function row(what: string, r: Run, base: Run): Row {
  return {
    what,
    figure: `${fmt(r.per_s)} /s, p50 ${fmt(r.p50_ms, 1)} ms, p99 ${fmt(r.p99_ms, 1)} ms`,
    baseline: `${fmt(base.per_s)} /s, p99 ${fmt(base.p99_ms, 1)} ms`,
    ratio: ratio(r.per_s, base.per_s),
  };
}

function cpuOf(r: Run): string {
  return `${fmt(r.cpu_us, 1)} us (${r.main_cpu_us === null ? 'n/a' : `${fmt(r.main_cpu_us, 1)} us`})`;
}

/** How throughput and latency change with the number of campaigns and of stored redemptions. */
export async function scalingSection(): Promise<Section> {
  const total = Number(process.env.BENCH_SCALE_TOTAL ?? 50_000);
  const stored_max = Number(process.env.BENCH_SCALE_ROWS_MAX ?? 10_000_000);
  const c1 = await byCampaigns(1, total);
  const c100 = await byCampaigns(100, total);
  const c10k = await byCampaigns(10_000, total);
  const r0 = await byStored(0, total);
  const r1m = await byStored(Math.min(1_000_000, stored_max), total);
  const r10m = await byStored(stored_max, total);
  return {
    title: 'Scaling: number of campaigns and stored redemptions (SQLite, synchronous=FULL)',
    method: `${fmt(total)} confirmed redemptions, 256 in flight, in-process. Campaigns: spread evenly over N live campaigns (each its own group-commit queue and row). Stored redemptions: one hot campaign on a table pre-filled with older rows. Baseline: 1 campaign / an empty table, in the same run.`,
    rows: [
      row('1 campaign', c1, c1),
      row('100 campaigns', c100, c1),
      row('10,000 campaigns', c10k, c1),
      row('0 stored redemptions', r0, r0),
      row(`${fmt(Math.min(1_000_000, stored_max))} stored redemptions`, r1m, r0),
      row(`${fmt(stored_max)} stored redemptions`, r10m, r0),
    ],
    notes: [
      'With many campaigns each batch holds fewer commands (commands of one campaign share a batch), so throughput falls toward one transaction per few redemptions; latency stays bounded.',
      `CPU per redemption, steadier than throughput on a shared VM (one run each; the whole process, then in brackets its main thread alone): 1 campaign ${cpuOf(c1)}, 100 campaigns ${cpuOf(c100)}, 10,000 campaigns ${cpuOf(c10k)}.`,
    ],
  };
}
