import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/node-process.ts';

test('a bad setting in the environment is one `vouchsafe:` line and exit 1, not a stack trace; --help still works', async () => {
  for (const [name, value] of [
    ['PORT', 'abc'],
    ['VOUCHSAFE_APPROVAL_THRESHOLD_MINOR', '-5'],
  ] as const) {
    const run = await runCli(['keys', 'list'], { [name]: value });
    assert.equal(run.code, 1, run.out);
    assert.equal(run.out, `vouchsafe: ${name} must be a non-negative integer, got ${value}\n`);
  }
  const help = await runCli(['--help'], { PORT: 'abc' });
  assert.equal(help.code, 0, help.out);
  assert.match(help.out, /^Usage: vouchsafe /);
});
