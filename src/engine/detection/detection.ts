import { limits } from '../../config/limits.ts';
import type { Campaign } from '../../domain/campaign.ts';
import type { BudgetSnapshot } from '../../domain/detect/burn.ts';
import { type DetectorConfig, defaultDetectorConfig } from '../../domain/detect/config.ts';
import {
  type Alarm,
  type AlarmKind,
  CampaignDetector,
  type RedemptionObservation,
} from '../../domain/detect/detector.ts';
import type { Alert } from '../../domain/incident.ts';
import { isCashEquivalent } from '../../domain/product-kinds.ts';
import type { Redemption } from '../../domain/redemption.ts';
import type { Engine } from '../engine.ts';
import { Lru } from './lru.ts';
import type { SharedDetectors } from './shared-detectors.ts';

/** The actor of everything the detector does, in audit entries and on paused campaigns. */
export const detectorActor = 'system:detector';

/**
 * Alarm kinds that pause an auto_pause campaign. A heavy hitter is one device or IP: velocity
 * limits are the tool for that, so it only alerts instead of stopping everyone's campaign. A
 * campaign-wide rate_spike only alerts too: by itself it cannot tell a leak from a flash sale
 * (`vouchsafe simulate flash-sale`), so what pauses is a sign of abuse on top of volume: one
 * merchant's share jumping, cash equivalents, or the budget burning ahead of plan.
 */
export const pausingKinds: ReadonlySet<AlarmKind> = new Set<AlarmKind>([
  'merchant_spike',
  'budget_burn',
  'cash_equivalent_share',
]);

export type DetectionLog = (level: 'info' | 'warn' | 'error', msg: string, data: Record<string, unknown>) => void;

export interface DetectionOptions {
  config?: DetectorConfig;
  /** Campaigns tracked at once (LRU). */
  campaigns_max?: number;
  /** Share state across nodes (Redis); without it each process keeps its own detectors. */
  shared?: SharedDetectors | null;
  /** Tick every second on an unref'd timer (default true); tests call tickNow with a manual clock. */
  timer?: boolean;
  log?: DetectionLog;
}

/** A tick, with the campaign's last resume in the copy its budget was read from (see resumedAt). */
type Tick = { now_ms: number; budget: BudgetSnapshot | null; resumed_at_ms: number | null };

interface Tracked {
  campaign: Campaign;
  /** In-process detector; null when the state lives in Redis. */
  detector: CampaignDetector | null;
  /**
   * While the shared state is unreachable: this node's own traffic, judged in process (as without
   * Redis) rather than by nobody until Redis returns; dropped once a shared step succeeds again.
   */
  local: CampaignDetector | null;
  /** Observations not yet applied to the shared state. */
  pending: RedemptionObservation[];
  dropped: number;
  /** Shared-state steps of this campaign run one after another. */
  chain: Promise<unknown>;
  queued: boolean;
  /** Alarms whose alert command failed, with the attempts made: submitted again at the next tick. */
  retry: Array<{ alarm: Alarm; attempts: number; resumed_at_ms: number | null }>;
}

/**
 * Attempts at recording one alarm, a tick apart. The detector does not raise the same alarm again
 * within its cooldown, so an alert command shed under load (503 overloaded: a burst is what fills the
 * queue) or failed with the store would otherwise leave the campaign running for that long.
 */
const alert_attempts_max = 60;
/** Failed alarms kept per campaign for another attempt; beyond it the newest are dropped (and logged). */
const alert_retries_max = 32;

function observation(r: Redemption): RedemptionObservation {
  return {
    now_ms: r.updated_at_ms,
    merchant_id: r.merchant_id,
    device_id: r.device_id,
    ip: r.ip,
    discount_minor: r.discount_minor,
    product_kind: r.product_kind,
    cash_equivalent: isCashEquivalent(r.product_kind),
  };
}

/**
 * What budget burn judges, or null when it does not apply. A red envelope is meant to be grabbed and spent at
 * once, not evenly over its coupons' lifetime, and its total bounds what it can cost: burning ahead of an even
 * plan is no sign of a leak there, and a pause would only refuse the holders of the packets still unspent.
 */
function budgetOf(c: Campaign): BudgetSnapshot | null {
  if (c.red_envelope) return null;
  // After a resume (Campaign.burn_base): the spend since, against the rest of the budget over the rest of the window.
  const base = c.burn_base ?? { at_ms: c.starts_at_ms, spent_minor: 0 };
  const starts_at_ms = Math.max(c.starts_at_ms, base.at_ms);
  const budget_minor = c.budget_minor - base.spent_minor;
  if (budget_minor <= 0 || c.ends_at_ms <= starts_at_ms) return null;
  return {
    budget_minor,
    spent_minor: Math.max(0, c.spent_minor - base.spent_minor),
    starts_at_ms,
    ends_at_ms: c.ends_at_ms,
  };
}

/** The campaign's last resume as this copy of it knows it: what its budget burn was judged from (budgetOf). */
function resumedAt(c: Campaign): number | null {
  return c.burn_base?.at_ms ?? null;
}

/**
 * Streaming anomaly detection wired into the engine: every committed batch's confirmed
 * redemptions feed the campaign's detector; a tick each second closes intervals and checks
 * budget burn. An alarm becomes an alert (and, for pausing kinds on auto_pause campaigns, a
 * pause) in the campaign's own batch, so every node honours it through the store.
 */
export class Detection {
  private readonly tracked: Lru<string, Tracked>;
  private readonly config: DetectorConfig;
  private readonly shared: SharedDetectors | null;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly log: DetectionLog;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly opts: DetectionOptions = {},
  ) {
    this.tracked = new Lru(opts.campaigns_max ?? limits.detection_campaigns_max);
    this.config = opts.config ?? defaultDetectorConfig;
    this.shared = opts.shared ?? null;
    this.log = opts.log ?? (() => undefined);
  }

  /** Subscribes to the engine's commits and starts the tick timer. */
  start(): this {
    this.engine.onCommit((c, confirmed) => this.onCommit(c, confirmed));
    if (this.opts.timer ?? true) {
      this.timer = setInterval(() => void this.tickNow().catch(() => undefined), limits.detection_tick_ms);
      this.timer.unref();
    }
    return this;
  }

  /** Campaigns tracked now (bounded by campaigns_max). */
  get size(): number {
    return this.tracked.size;
  }

  /** Closes elapsed intervals and checks burn for every tracked active campaign; resolves to the alerts raised. */
  async tickNow(now_ms = this.engine.now()): Promise<Alert[]> {
    const raised: Array<Promise<Alert | null> | Promise<Array<Alert | null>>> = [];
    for (const t of [...this.tracked.values()]) {
      // Before the status check: an alarm that fired while the campaign was active is recorded even if
      // it has been paused since (the alert then says `alerted`).
      for (const { alarm, attempts, resumed_at_ms } of t.retry.splice(0)) {
        raised.push(this.raiseOne(t.campaign, alarm, attempts + 1, resumed_at_ms));
      }
      if (t.campaign.status !== 'active') continue;
      const budget = budgetOf(t.campaign);
      const resumed_at_ms = resumedAt(t.campaign);
      if (t.detector) raised.push(...this.raise(t.campaign, t.detector.tick(now_ms, budget), resumed_at_ms));
      else raised.push(this.step(t, { now_ms, budget, resumed_at_ms }));
    }
    const alerts = (await Promise.all(raised)).flat();
    await this.settled();
    return alerts.filter((a): a is Alert => a !== null);
  }

  /** Applies every buffered observation to the shared state (a no-op in process) and waits for the alerts. */
  async flush(): Promise<void> {
    await Promise.all([...this.tracked.values()].map((t) => (t.detector ? null : this.step(t, null))));
    await this.settled();
  }

  /** Resolves once every alert command raised so far has committed (or failed). */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    await this.shared?.close();
  }

  /** Runs inside the engine's commit path: it must never throw. */
  private onCommit(c: Campaign, confirmed: Redemption[]): void {
    if (this.closed) return;
    try {
      const t = this.track(c);
      if (confirmed.length === 0) return;
      if (t.detector) {
        const alarms: Alarm[] = [];
        for (const r of confirmed) alarms.push(...t.detector.observe(observation(r)));
        this.raise(c, alarms, resumedAt(c));
        return;
      }
      this.buffer(t, confirmed);
      if (!t.queued) {
        t.queued = true;
        void this.step(t, null);
      }
    } catch (err) {
      this.log('error', 'detector failed on a commit', { campaign_id: c.id, err: String(err) });
    }
  }

  private track(c: Campaign): Tracked {
    const known = this.tracked.get(c.id);
    if (known) {
      known.campaign = c;
      return known;
    }
    const detector = this.shared ? null : new CampaignDetector(this.config);
    const t: Tracked = {
      campaign: c,
      detector,
      local: null,
      pending: [],
      dropped: 0,
      chain: Promise.resolve(),
      queued: false,
      retry: [],
    };
    const evicted = this.tracked.set(c.id, t);
    if (evicted !== undefined)
      this.log('info', 'detector evicted (LRU); it warms up again when traffic returns', { campaign_id: evicted });
    return t;
  }

  /** Bounded: while the shared state is busy observations pile up only to a limit; the rest are counted and dropped. */
  private buffer(t: Tracked, confirmed: Redemption[]): void {
    const room = limits.detection_pending_events_max - t.pending.length;
    const taken = confirmed.slice(0, Math.max(0, room));
    for (const r of taken) t.pending.push(observation(r));
    t.dropped += confirmed.length - taken.length;
  }

  /** One shared-state step (observe what is buffered, then maybe tick), after the campaign's previous one. */
  private step(t: Tracked, tick: Tick | null): Promise<Array<Alert | null>> {
    const shared = this.shared;
    if (!shared) return Promise.resolve([]);
    const run = () => this.sharedStep(shared, t, tick);
    const next = t.chain.then(run, run);
    t.chain = next;
    return next;
  }

  private async sharedStep(shared: SharedDetectors, t: Tracked, tick: Tick | null): Promise<Array<Alert | null>> {
    t.queued = false;
    const events = t.pending.splice(0);
    if (t.dropped > 0) {
      this.log('warn', 'detector observations dropped (shared state busy)', {
        campaign_id: t.campaign.id,
        dropped: t.dropped,
      });
      t.dropped = 0;
    }
    if (events.length === 0 && tick === null) return [];
    const judge = (d: CampaignDetector): Alarm[] => {
      const out: Alarm[] = [];
      for (const e of events) out.push(...d.observe(e));
      if (tick) out.push(...d.tick(tick.now_ms, tick.budget));
      return out;
    };
    const resumed_at_ms = tick ? tick.resumed_at_ms : resumedAt(t.campaign);
    let alarms: Alarm[] | null;
    try {
      alarms = await shared.update(t.campaign.id, judge);
    } catch (err) {
      // Unreachable (not merely busy): these observations are judged here and do not reach the shared state.
      this.log('warn', 'shared detector state unavailable; judging in process meanwhile', {
        campaign_id: t.campaign.id,
        err: String(err),
      });
      return Promise.all(this.raise(t.campaign, this.judgeLocally(t, judge), resumed_at_ms));
    }
    if (alarms === null) {
      // Not applied: keep them for the next step (the next commit or tick), within the bound.
      const room = Math.max(0, limits.detection_pending_events_max - t.pending.length);
      t.pending.unshift(...events.slice(0, room));
      return [];
    }
    t.local = null;
    return Promise.all(this.raise(t.campaign, alarms, resumed_at_ms));
  }

  /** The step on this node's fallback detector; never throws (a commit's step runs unawaited). */
  private judgeLocally(t: Tracked, judge: (d: CampaignDetector) => Alarm[]): Alarm[] {
    try {
      t.local ??= new CampaignDetector(this.config);
      return judge(t.local);
    } catch (err) {
      this.log('error', 'detector failed on a step', { campaign_id: t.campaign.id, err: String(err) });
      return [];
    }
  }

  private raise(c: Campaign, alarms: Alarm[], resumed_at_ms: number | null): Array<Promise<Alert | null>> {
    return alarms.map((alarm) => this.raiseOne(c, alarm, 1, resumed_at_ms));
  }

  /** Records one alarm as an alert (and maybe a pause); a failed attempt is kept for the next tick. */
  private raiseOne(c: Campaign, alarm: Alarm, attempts: number, resumed_at_ms: number | null): Promise<Alert | null> {
    const cmd = {
      type: 'alert' as const,
      actor: detectorActor,
      alarm,
      pause: pausingKinds.has(alarm.kind),
      ...(alarm.kind === 'budget_burn' ? { resumed_at_ms } : {}),
    };
    const p = this.engine.submitCommand<Alert>(c.id, cmd).then(
      (alert) => {
        this.log('warn', 'detector alert', {
          alert_id: alert.id,
          campaign_id: c.id,
          kind: alert.kind,
          action: alert.action,
        });
        return alert;
      },
      (err: unknown) => {
        const retried = this.keepForRetry(c.id, { alarm, attempts, resumed_at_ms });
        this.log('error', 'could not record a detector alert', {
          campaign_id: c.id,
          kind: alarm.kind,
          attempts,
          retried,
          err: String(err),
        });
        return null;
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  private keepForRetry(campaign_id: string, failed: Tracked['retry'][number]): boolean {
    const t = this.tracked.peek(campaign_id);
    if (this.closed || !t || failed.attempts >= alert_attempts_max || t.retry.length >= alert_retries_max) return false;
    t.retry.push(failed);
    return true;
  }
}
