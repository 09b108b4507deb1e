import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNode } from '../support/node-process.ts';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The README's "Try it with curl" shell block, as a new user copies it. */
function curlBlock(): string {
  const section = readme.slice(readme.indexOf('### Try it with curl'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m?.[1], 'README has a "Try it with curl" sh block');
  return m[1];
}

const bin = fileURLToPath(new URL('../../bin/vouchsafe.js', import.meta.url));

/** What a `# -> 201 {"status": "draft", ...}` comment shows: the answer of the curl call above it. */
interface ShownAnswer {
  /** Which curl call of the block (0-based) the comment follows. */
  call: number;
  status: number;
  comment: string;
  /** Each `"field": value` the comment shows, value as written. */
  fields: [string, string][];
}

function shownAnswers(block: string): ShownAnswer[] {
  const shown: ShownAnswer[] = [];
  let calls = 0;
  for (const line of block.split('\n')) {
    const arrow = /^\s*# -> (\d{3}) (.*)$/.exec(line);
    if (arrow) {
      const fields = [...(arrow[2] ?? '').matchAll(/"(\w+)": ("[^"]*"|-?\d+|\[\]|true|false|null)/g)].map(
        (m): [string, string] => [m[1] ?? '', m[2] ?? ''],
      );
      shown.push({ call: calls - 1, status: Number(arrow[1]), comment: line.trim(), fields });
    } else if (!line.trim().startsWith('#') && /(^|[\s(])curl\s/.test(line)) calls++;
  }
  return shown;
}

/** Every value under `key` at any depth of `doc`. */
function valuesOf(doc: unknown, key: string): unknown[] {
  if (Array.isArray(doc)) return doc.flatMap((item) => valuesOf(item, key));
  if (doc === null || typeof doc !== 'object') return [];
  return Object.entries(doc).flatMap(([k, v]) => [...(k === key ? [v] : []), ...valuesOf(v, key)]);
}

/** Whether a value the server answered fits what the comment shows: `"cmp_..."` a prefix, `"XXXX"` a length. */
function fits(value: unknown, shown: string): boolean {
  const text = JSON.parse(shown) as unknown;
  if (typeof text === 'string' && text.endsWith('...'))
    return typeof value === 'string' && value.startsWith(text.slice(0, -3));
  if (typeof text === 'string' && /^X+$/.test(text)) return typeof value === 'string' && value.length === text.length;
  return JSON.stringify(value) === JSON.stringify(text);
}

test("the README's curl walk-through runs as written against a fresh `vouchsafe serve`, every answer as its comments show: launched, claimed, redeemed, confirmed, a risky one approved by a key made on the server", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-readme-'));
  // As after `npm start` in a fresh clone: a random admin key in ./data/admin.key.
  const node = await startNode({ VOUCHSAFE_DATA_DIR: join(dir, 'data'), VOUCHSAFE_ADMIN_KEY: '', DATABASE_URL: '' });
  try {
    // What a test must change: the port (the README's server listens on 8080), and the CLI's path
    // (the README runs in the clone, where `npx vouchsafe` is its bin; this runs in a scratch dir).
    const script = curlBlock()
      .replaceAll('localhost:8080', node.url.replace(/^http:\/\//, ''))
      .replaceAll('npx vouchsafe', `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)}`);
    // Each curl's status and body kept in order (the block runs them one after another), its output unchanged.
    const answers = join(dir, 'answers');
    mkdirSync(answers);
    const keep = `curl() { local f; f="${answers}/$(date +%s%N)"; command curl -D "$f.head" "$@" | tee "$f.body"; }`;
    const run = spawnSync('bash', ['-c', `set -euo pipefail\n${keep}\n${script}`], { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const got = readdirSync(answers)
      .filter((f) => f.endsWith('.head'))
      .sort()
      .map((f) => ({
        status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(readFileSync(join(answers, f), 'utf8'))?.[1]),
        body: JSON.parse(readFileSync(join(answers, f.replace(/head$/, 'body')), 'utf8')) as unknown,
      }));
    const shown = shownAnswers(curlBlock());
    assert.equal(got.length, 8, 'the block makes eight API calls');
    assert.equal(shown.length, 7, 'seven of them show their answer');
    // The answers the block's comments show are the answers the server gives.
    for (const s of shown) {
      const answer = got[s.call];
      assert.ok(answer, s.comment);
      assert.equal(answer.status, s.status, `${s.comment}\n${JSON.stringify(answer.body)}`);
      assert.ok(s.fields.length > 0, s.comment);
      for (const [key, value] of s.fields) {
        assert.ok(
          valuesOf(answer.body, key).some((v) => fits(v, value)),
          `${s.comment}: "${key}": ${value}\n${JSON.stringify(answer.body)}`,
        );
      }
    }
    // The fields the block prints: the campaign's status after submit, the redemption's after confirm,
    // the risky campaign's after submit and after the approval.
    assert.deepEqual(run.stdout.trim().split('\n'), ['active', 'confirmed', 'pending_approval', 'active'], run.stderr);
  } finally {
    await node.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
