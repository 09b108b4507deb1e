// Runs every *.test.ts under src/ and test/ on Node's built-in test runner through tsx.
// Usage: npm test [-- path-or-substring ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/**
 * The server's own settings are not the tests': a DATABASE_URL (or REDIS_URL, NATS_URL, data dir,
 * admin key...) left in the shell would reach every server and CLI the tests start, and their test
 * data would land in that database. Tests name their services with VOUCHSAFE_TEST_*.
 */
const serverSettings = /^(DATABASE_URL|REDIS_URL|NATS_URL|PORT|HOST|LOG_LEVEL|VOUCHSAFE_(?!TEST_).*)$/;
const env = { ...process.env, NODE_ENV: 'test' };
const dropped = Object.keys(env).filter((name) => serverSettings.test(name));
for (const name of dropped) delete env[name];
if (dropped.length > 0) {
  console.log(
    `npm test: ignoring ${dropped.join(', ')} (the server's settings); tests use VOUCHSAFE_TEST_DATABASE_URL, VOUCHSAFE_TEST_REDIS_URL and VOUCHSAFE_TEST_NATS_URL`,
  );
}

const filters = process.argv.slice(2);
const files = find('src', find('test', [])).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
files.sort();
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
