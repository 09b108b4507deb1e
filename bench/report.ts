import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** One benchmark's outcome: a figure beside its same-run baseline. */
/**
 * Servers and nodes the benchmarks spawn inherit NODE_OPTIONS: run them as `npm start` runs the
 * server, with a 64 MiB young generation (the engine allocates per command; ~10% of throughput).
 */
export function runChildrenAsNpmStart(): void {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=64`.trim();
}

export interface Row {
  what: string;
  figure: string;
  baseline: string;
  ratio: string;
  target?: string;
}

export interface Section {
  title: string;
  /** How it was measured, in a sentence or two. */
  method: string;
  rows: Row[];
  notes?: string[];
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function ratio(a: number, b: number): string {
  return `${fmt(a / b, 1)}x`;
}

function commit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function renderResults(sections: Section[], started: Date): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  const lines = [
    '# Benchmark results',
    '',
    'Written by `npm run bench`. Every figure stands beside a baseline measured in the same run on the',
    'same machine; the ratio is what carries over between machines (absolute figures on this shared',
    '2-core VM move by 2-3x between runs). Benchmarks never fail CI.',
    '',
    `- date: ${started.toISOString()}`,
    `- commit: ${commit()}`,
    `- machine: ${cpus().length} x ${cpu}, ${fmt(totalmem() / 2 ** 30, 1)} GiB, Node ${process.version}, ${process.platform}`,
    '',
  ];
  for (const s of sections) {
    lines.push(
      `## ${s.title}`,
      '',
      s.method,
      '',
      '| what | figure | same-run baseline | ratio | target |',
      '|---|---|---|---|---|',
    );
    for (const r of s.rows) lines.push(`| ${r.what} | ${r.figure} | ${r.baseline} | ${r.ratio} | ${r.target ?? ''} |`);
    lines.push('');
    for (const n of s.notes ?? []) lines.push(`- ${n}`);
    if (s.notes?.length) lines.push('');
  }
  return lines.join('\n');
}

/**
 * CPU time (user + system) so far in ms of the process or thread whose /proc stat file this is
 * (`/proc/<pid>/stat`, `/proc/self/task/<tid>/stat`); null where there is no such file (not Linux).
 */
export function procCpuMs(stat_path: string): number | null {
  try {
    const stat = readFileSync(stat_path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}
