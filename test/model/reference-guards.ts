/**
 * The abuse guards in front of a campaign, as the model sees them (DESIGN.md: "repeated failed
 * code lookups from one user, device or IP are locked out"; velocity caps redemptions per user):
 * - a failed code lookup counts against the user (5) and the IP (50) in fixed 15-minute windows;
 *   at the limit even a correct code waits for the next window;
 * - velocity counts accepted redemptions per user per fixed UTC minute; a redemption the campaign
 *   then refuses gives its place back.
 */
const lockout = { user_failures_max: 5, ip_failures_max: 50, window_ms: 15 * 60_000 };
const minute_ms = 60_000;

export class RefGuards {
  private readonly failures = new Map<string, number>();
  private readonly velocity = new Map<string, number>();

  constructor(
    private readonly ip: string,
    private readonly per_user_per_minute: number | null,
  ) {}

  private bucket(kind: string, id: string, now_ms: number, window_ms: number): string {
    return `${kind}:${id}:${now_ms - (now_ms % window_ms)}`;
  }

  lockedOut(user_id: string, now_ms: number): boolean {
    const user = this.failures.get(this.bucket('user', user_id, now_ms, lockout.window_ms)) ?? 0;
    const ip = this.failures.get(this.bucket('ip', this.ip, now_ms, lockout.window_ms)) ?? 0;
    return user >= lockout.user_failures_max || ip >= lockout.ip_failures_max;
  }

  countFailure(user_id: string, now_ms: number): void {
    for (const k of [
      this.bucket('user', user_id, now_ms, lockout.window_ms),
      this.bucket('ip', this.ip, now_ms, lockout.window_ms),
    ]) {
      this.failures.set(k, (this.failures.get(k) ?? 0) + 1);
    }
  }

  /** A place in the user's minute window (its key), null when the campaign has no velocity, false when full. */
  take(user_id: string, now_ms: number): string | null | false {
    const limit = this.per_user_per_minute;
    if (limit === null) return null;
    const k = this.bucket('vel', user_id, now_ms, minute_ms);
    const n = this.velocity.get(k) ?? 0;
    if (n >= limit) return false;
    this.velocity.set(k, n + 1);
    return k;
  }

  giveBack(place: string): void {
    this.velocity.set(place, (this.velocity.get(place) ?? 1) - 1);
  }
}
