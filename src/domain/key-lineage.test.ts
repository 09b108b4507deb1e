import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type KeyOrigin, keyLineage, lineageIds, selfApprovalReason } from './key-lineage.ts';

function origins(entries: Record<string, Partial<KeyOrigin>>): Map<string, KeyOrigin> {
  return new Map(
    Object.entries(entries).map(([id, o]) => [id, { created_by: o.created_by ?? null, replaces: o.replaces ?? null }]),
  );
}

// root (bootstrap) made maker; maker rotated into maker2; maker2 minted mint; mint minted grandchild.
// cli_root is another root (the CLI), which made approver.
const keys = origins({
  root: {},
  maker: { created_by: 'root' },
  maker2: { created_by: 'maker', replaces: 'maker' },
  mint: { created_by: 'maker2' },
  grandchild: { created_by: 'mint' },
  sibling: { created_by: 'root' },
  cli_root: {},
  approver: { created_by: 'cli_root' },
});

describe('key lineage', () => {
  test('a key, the keys it replaced and the keys that created it, transitively', () => {
    assert.deepEqual(lineageIds(keys, 'grandchild').sort(), ['grandchild', 'maker', 'maker2', 'mint', 'root'].sort());
    assert.deepEqual(lineageIds(keys, 'root'), ['root']);
    assert.deepEqual(lineageIds(keys, 'key_unknown'), ['key_unknown'], 'a key not stored has only itself');
  });

  test('a cycle (which stored keys cannot form) still ends', () => {
    const loop = origins({ a: { created_by: 'b' }, b: { replaces: 'a' } });
    assert.deepEqual([...keyLineage(loop, 'a').keys()], ['a', 'b']);
  });

  test('refused: the maker itself, its rotated successor, a key it minted, two levels down', () => {
    assert.match(selfApprovalReason(keys, 'maker', ['maker', null]) ?? '', /different key than its makers/);
    assert.match(
      selfApprovalReason(keys, 'maker2', ['maker']) ?? '',
      /created by or replaces one of the campaign's makers \(maker2 replaces maker\)/,
    );
    assert.match(
      selfApprovalReason(keys, 'grandchild', ['maker', 'sibling']) ?? '',
      /\(grandchild was created by mint, which was created by maker2, which replaces maker\)/,
    );
  });

  test("refused: a key approving the work of keys it made (the maker's lineage holds the approver)", () => {
    assert.match(
      selfApprovalReason(keys, 'root', ['mint']) ?? '',
      /makers was created by or replaces the approving key \(mint was created by maker2, which replaces maker, which was created by root\): a key may not approve the work of keys it made/,
    );
    assert.match(selfApprovalReason(keys, 'maker', ['grandchild']) ?? '', /keys it made/);
  });

  test('allowed: an independent root, and siblings (neither in the other one lineage)', () => {
    assert.equal(selfApprovalReason(keys, 'approver', ['maker', 'maker2', 'grandchild']), null);
    assert.equal(selfApprovalReason(keys, 'sibling', ['maker']), null, 'both made by root: root is neither of them');
    assert.equal(
      selfApprovalReason(keys, 'key_checker', ['key_maker', null]),
      null,
      'keys not stored: only themselves',
    );
  });
});
