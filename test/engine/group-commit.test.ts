import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import { GroupCommit } from '../../src/engine/group-commit.ts';

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
    (cmd) => cmd.startsWith('stop'),
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
