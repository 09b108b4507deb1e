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

/** The recorded migration ids this build's list does not hold, in order. */
export function unknownMigrations(recorded: Iterable<string>, known: ReadonlyArray<{ id: string }>): string[] {
  const ours = new Set(known.map((m) => m.id));
  return [...recorded].filter((id) => !ours.has(id)).sort();
}
