/**
 * A store migrated by a newer Vouchsafe holds schema this build does not know, and relies on it:
 * a counter or a check a later migration added would go unkept (one discount per order, say) by
 * an older build writing to it. Such a build refuses the store rather than run on it: after an
 * upgrade, going back means restoring a backup taken before it, not starting the older version.
 */
export class NewerSchema extends Error {
  constructor(readonly ids: readonly string[]) {
    super(
      `the store was migrated by a newer vouchsafe (${ids.length} migration${ids.length === 1 ? '' : 's'} this version does not know: ${ids.join(', ')}); run that version or a newer one`,
    );
    this.name = 'NewerSchema';
  }
}

/** A store's recorded migrations against this build's list. */
export interface MigrationState<M extends { id: string }> {
  /** This build's migrations the store has not recorded, in the build's order. */
  unapplied: M[];
  /** Recorded migrations this build does not know (a newer build ran them), in id order. */
  newer: string[];
}

export function migrationState<M extends { id: string }>(
  recorded: Iterable<string>,
  known: readonly M[],
): MigrationState<M> {
  const done = new Set(recorded);
  const ours = new Set(known.map((m) => m.id));
  return {
    unapplied: known.filter((m) => !done.has(m.id)),
    newer: [...done].filter((id) => !ours.has(id)).sort(),
  };
}
