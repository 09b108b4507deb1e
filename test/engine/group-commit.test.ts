import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import { GroupCommit, type Priority } from '../../src/engine/group-commit.ts';

/** A queue whose batches echo their commands, recording each batch as it is applied. */
function recordingQueue(limits: { batch_commands_max: number; queue_commands_max: number }) {
  const batches: string[][] = [];
  const queue = new GroupCommit<string, string>(
    async (taken) =>
      taken.map(({ cmds }) => {
        batches.push(cmds);
        return cmds.map((c) => `done ${c}`);
      }),
    limits,
    // 'stop ...' is the kill switch, 'resume' keeps its place, anything else is spending.
    (cmd): Priority => (cmd.startsWith('stop') ? 'urgent' : cmd === 'resume' ? 'fixed' : 'overtakable'),
  );
  return { queue, batches };
}

test('a full queue sheds plain commands with 503 overloaded but admits the urgent ones, ahead of the waiting', async () => {
  const { queue, batches } = recordingQueue({ batch_commands_max: 3, queue_commands_max: 4 });
  const plain = ['a', 'b', 'c', 'd'].map((c) => queue.submit('cmp_1', c));
  const shed = queue.submit('cmp_1', 'e');
  const stops = ['stop 1', 'stop 2'].map((c) => queue.submit('cmp_1', c));
  await assert.rejects(shed, (err: unknown) => err instanceof Rejection && err.code === 'overloaded');
  assert.deepEqual(await Promise.all(stops), ['done stop 1', 'done stop 2']);
  assert.deepEqual(await Promise.all(plain), ['done a', 'done b', 'done c', 'done d']);
  // The urgent commands, in the order they came, go first; the rest keep theirs.
  assert.deepEqual(batches, [
    ['stop 1', 'stop 2', 'a'],
    ['b', 'c', 'd'],
  ]);
  assert.equal(queue.pending, 0);
});

test('an urgent command overtakes only the spending after the last command that keeps its place', async () => {
  const { queue, batches } = recordingQueue({ batch_commands_max: 10, queue_commands_max: 100 });
  const all = ['a', 'resume', 'b', 'c', 'stop'].map((c) => queue.submit('cmp_1', c));
  await Promise.all(all);
  // The pause comes after the resume sent before it (else the resume would undo it), ahead of b and c.
  assert.deepEqual(batches, [['a', 'resume', 'stop', 'b', 'c']]);
});
