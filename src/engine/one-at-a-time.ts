/**
 * A background job (a sweep) that never overlaps itself. A call while a run is under way is
 * answered by the next run, which starts once that one has ended; the calls made meanwhile share it.
 */
export class OneAtATime<T> {
  private current: Promise<T> | null = null;
  private next: Promise<T> | null = null;

  constructor(private readonly job: () => Promise<T>) {}

  get running(): boolean {
    return this.current !== null;
  }

  run(): Promise<T> {
    if (this.next) return this.next;
    if (!this.current) return this.start();
    this.next = this.current
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.start();
      });
    return this.next;
  }

  /** Settles once no run is under way or waiting (whatever they answered). */
  async idle(): Promise<void> {
    await (this.next ?? this.current)?.catch(() => undefined);
  }

  private start(): Promise<T> {
    const run: Promise<T> = this.job().finally(() => {
      if (this.current === run) this.current = null;
    });
    this.current = run;
    return run;
  }
}
