/**
 * Calls for one key while its load is under way share that load's answer: a stampede on a new key
 * (a code, a campaign, an envelope) costs one store read, not thousands.
 */
export class SingleFlight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  run(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.pending.get(key);
    if (p === undefined) {
      p = load().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }
}
