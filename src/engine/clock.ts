/** The engine's only source of time; tests inject a manual one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private now_ms: number) {}
  now(): number {
    return this.now_ms;
  }
  set(now_ms: number): void {
    this.now_ms = now_ms;
  }
  advance(ms: number): void {
    this.now_ms += ms;
  }
}
