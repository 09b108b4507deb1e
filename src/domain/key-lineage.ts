import { assert } from './errors.ts';

/**
 * Maker-checker across API keys. Whoever holds a key can mint more (admin scope) or rotate it, and
 * is handed each new secret; so a key stands for every key it made or replaced. A key's lineage is
 * the key, the key it replaced by rotation and the key that created it, each with its own lineage,
 * transitively. A key made with no creator (the bootstrap admin key, `vouchsafe keys create` on the
 * server) starts a lineage of its own.
 */

/** How a key came to be; both null for a key with no creator that replaced none. */
export interface KeyOrigin {
  /** The key that created it (and was given its secret), rotation included. */
  created_by: string | null;
  /** The key it replaced by rotation. */
  replaces: string | null;
}

/** One step up a lineage: `key` was created by, or replaces, `parent`. */
export interface LineageStep {
  key: string;
  relation: 'created_by' | 'replaces';
  parent: string;
}

/**
 * Every key in `id`'s lineage, each with the step that first reached it (null for `id` itself).
 * A key the origins do not know (an actor that is not a stored key) has only itself. Breadth
 * first, so each step chain is a shortest one; a key is visited once, so a cycle (which stored
 * keys cannot form: a parent exists before its child) still ends.
 */
export function keyLineage(origins: ReadonlyMap<string, KeyOrigin>, id: string): Map<string, LineageStep | null> {
  const reached = new Map<string, LineageStep | null>([[id, null]]);
  const queue = [id];
  for (const key of queue) {
    const origin = origins.get(key);
    if (!origin) continue;
    for (const [relation, parent] of [
      ['replaces', origin.replaces],
      ['created_by', origin.created_by],
    ] as const) {
      if (parent === null || reached.has(parent)) continue;
      reached.set(parent, { key, relation, parent });
      queue.push(parent);
    }
  }
  assert(reached.size <= origins.size + 1, 'a key lineage holds at most the keys it was drawn from, and the key');
  return reached;
}

/** The steps from the lineage's own key up to `to` (which must be in it): "a was created by b, which replaces c". */
function describePath(lineage: ReadonlyMap<string, LineageStep | null>, to: string): string {
  const steps: LineageStep[] = [];
  for (let step = lineage.get(to); step; step = lineage.get(step.key)) steps.unshift(step);
  const words = { created_by: 'was created by', replaces: 'replaces' } as const;
  return steps.map((s, i) => `${i === 0 ? s.key : 'which'} ${words[s.relation]} ${s.parent}`).join(', ');
}

/**
 * Why `approver` may not approve work made by `makers`, or null when it may. Refused: the approver
 * is a maker; the approver's lineage holds a maker (a maker's rotated successor, a key a maker
 * minted, or one minted by such a key); or a maker's lineage holds the approver (a key may not
 * approve the work of keys it made or rotated into being).
 */
export function selfApprovalReason(
  origins: ReadonlyMap<string, KeyOrigin>,
  approver: string,
  makers: ReadonlyArray<string | null>,
): string | null {
  const known = makers.filter((m): m is string => m !== null);
  if (known.includes(approver)) {
    return `a campaign must be approved by a different key than its makers: ${approver} made or changed it`;
  }
  const own = keyLineage(origins, approver);
  for (const maker of known) {
    if (own.has(maker)) {
      return `the approving key was created by or replaces one of the campaign's makers (${describePath(own, maker)}): a maker's rotated key, or a key a maker made, is the maker again`;
    }
  }
  for (const maker of known) {
    const theirs = keyLineage(origins, maker);
    if (theirs.has(approver)) {
      return `one of the campaign's makers was created by or replaces the approving key (${describePath(theirs, approver)}): a key may not approve the work of keys it made`;
    }
  }
  return null;
}

/** The approver's lineage as recorded with an approval: the key first, then the keys it comes from. */
export function lineageIds(origins: ReadonlyMap<string, KeyOrigin>, id: string): string[] {
  return [...keyLineage(origins, id).keys()];
}
