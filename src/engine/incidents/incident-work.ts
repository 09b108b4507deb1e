import { limits } from '../../config/limits.ts';
import { Rejection } from '../../domain/errors.ts';
import type { Breakdown, Incident, IncidentProgress, IncidentReport } from '../../domain/incident.ts';
import type { OutboxEvent, Store } from '../../store/port.ts';
import type { IncidentLease, MakePlatformAudit, ScopeFilter } from '../../store/port-incidents.ts';
import { linkAudit } from '../audit.ts';
import type { Engine } from '../engine.ts';
import type { FreezeOutcome } from '../incident-handlers.ts';
import { incidentReport } from './incident-report.ts';

export type IncidentLog = (msg: string, data: Record<string, unknown>) => void;

/** Progress is logged about every this many redemptions (and at the end of each campaign). */
const log_every = 50_000;

/** The steps of opening, in order; progress.phase says which one the incident is in. */
const openPhases: ReadonlyArray<IncidentProgress['phase']> = [
  'scoping',
  'pausing',
  'freezing',
  'revoking',
  'reporting',
];

export function newProgress(
  phase: IncidentProgress['phase'],
  campaigns_total: number,
  now_ms: number,
): IncidentProgress {
  return { phase, campaigns_total, campaigns_done: 0, redemptions_done: 0, updated_at_ms: now_ms };
}

/** An incident as events carry it: without the work state, which is the engine's own. */
export function incidentEventData(incident: Incident): Omit<Incident, 'work'> {
  const { work: _work, ...shown } = incident;
  return shown;
}

/**
 * Carries one opening or resolving incident to its end, as the holder of its lease. Every save
 * renews the lease and fails once another process has taken the work over, and every batch is
 * fenced the same way (heldFence), so a process that stalled past its lease stops, applying nothing.
 *
 * Each step can start again where a crash stopped it: progress (phase, campaigns_done) is saved
 * after every campaign, each step is idempotent for the campaign it was on (a frozen row is not
 * live, a paused campaign stays paused, a settled member is not pending), and the report and the
 * resolved totals are computed from the rows, never from counts kept in memory.
 */
export class IncidentWorker {
  private readonly store: Store;

  constructor(
    private readonly engine: Engine,
    private readonly incident: Incident,
    private readonly owner: string,
    private readonly log: IncidentLog,
  ) {
    this.store = engine.store;
  }

  /** The lease this worker holds from now on; given with every save. */
  lease(): IncidentLease {
    return { owner: this.owner, until_ms: this.engine.now() + limits.incident_lease_ms };
  }

  /** Opening: the steps not done yet, pause, freeze, revoke, then the report from the rows. */
  async open(): Promise<Incident> {
    const incident = this.incident;
    const { scope, actions } = incident;
    const filter: ScopeFilter = { merchant_ids: scope.merchant_ids, from_ms: scope.from_ms, to_ms: scope.to_ms };
    if (incident.progress.phase === 'scoping') {
      incident.campaign_ids =
        scope.campaign_ids ??
        (await this.store.campaignsWithRedemptionsAt({ ...filter, merchant_ids: filter.merchant_ids ?? [] }));
      incident.progress = newProgress('pausing', incident.campaign_ids.length, this.engine.now());
      await this.save();
    }
    if (actions.includes('pause_campaigns')) await this.pauseAll();
    if (actions.includes('freeze_redemptions')) await this.freezeAll(filter);
    if (actions.includes('revoke_unredeemed')) await this.revokeAll();
    const report = await this.report();
    incident.report = report;
    incident.status = 'open';
    incident.progress = { ...incident.progress, phase: 'done', updated_at_ms: this.engine.now() };
    const { frozen_count, frozen_minor, released_holds_count, released_holds_minor, revoked_coupons } = report;
    const paused = report.paused_campaigns;
    const totals = { frozen_count, frozen_minor, released_holds_count, released_holds_minor, revoked_coupons, paused };
    await this.finish('opening', this.audit('incident.opened', totals), 'incident.opened');
    this.log('incident opened', { incident_id: incident.id, ...totals });
    return incident;
  }

  /** Resolving: every member still pending, campaign by campaign; the totals from the settled rows. */
  async resolve(): Promise<Incident> {
    const incident = this.incident;
    const phase = incident.resolution === 'honour' ? 'honouring' : 'reversing';
    const campaigns = await this.store.incidentCampaigns(incident.id);
    const start = incident.progress.phase === phase ? incident.progress.campaigns_done : 0;
    for (const campaign_id of campaigns.slice(start)) {
      let after = '';
      for (;;) {
        const page = await this.store.incidentMembers(incident.id, campaign_id, after, limits.incident_batch_ids_max);
        const last = page[page.length - 1];
        if (last === undefined) break;
        after = last.redemption_id;
        const ids = page.filter((m) => m.outcome === null).map((m) => m.redemption_id);
        if (ids.length > 0) await this.advance((await this.settleBatch(campaign_id, ids)).count);
      }
      await this.campaignDone();
    }
    const resolved = await this.store.incidentResolvedTotals(incident.id);
    incident.status = 'resolved';
    incident.resolved = resolved;
    incident.resolved_at_ms = this.engine.now();
    incident.progress = { ...incident.progress, phase: 'done', updated_at_ms: incident.resolved_at_ms };
    const audit = this.audit('incident.resolved', { resolution: incident.resolution, ...resolved });
    await this.finish('resolving', audit, 'incident.resolved');
    this.log('incident resolved', { incident_id: incident.id, resolution: incident.resolution, ...resolved });
    return incident;
  }

  /** Where an opening step starts: 0 if not reached yet, the campaign it stopped at if in it, null if past it. */
  private startOf(phase: IncidentProgress['phase']): number | null {
    const at = openPhases.indexOf(this.incident.progress.phase);
    const step = openPhases.indexOf(phase);
    if (at > step) return null;
    return at === step ? this.incident.progress.campaigns_done : 0;
  }

  /** Moves progress to a step (saved, with whatever the step set up in the work state). */
  private async enter(phase: IncidentProgress['phase']): Promise<void> {
    if (this.incident.progress.phase === phase) return;
    this.incident.progress = { ...this.incident.progress, phase, campaigns_done: 0 };
    await this.save();
  }

  /** Pauses each campaign in scope through its batch; ones that cannot pause (draft, ended, revoked) are skipped. */
  private async pauseAll(): Promise<void> {
    const start = this.startOf('pausing');
    if (start === null) return;
    await this.enter('pausing');
    const reason = `incident ${this.incident.id}: ${this.incident.title}`;
    for (const campaign_id of this.incident.campaign_ids.slice(start)) {
      if (await this.pauseOne(campaign_id, reason)) this.incident.work.paused += 1;
      await this.campaignDone();
    }
  }

  /** Pausing is idempotent (a paused campaign stays paused and counts), so a resumed run may repeat one. */
  private async pauseOne(campaign_id: string, reason: string): Promise<boolean> {
    try {
      const c = await this.engine.pauseForIncident(campaign_id, { actor: this.incident.work.actor }, reason);
      return c.status === 'paused';
    } catch (e) {
      if (!(e instanceof Rejection) || e.code !== 'invalid_state') throw e;
      return false;
    }
  }

  /**
   * Freezes the confirmed redemptions in scope and releases the holds (see freeze), a few thousand
   * ids per campaign batch, with progress. It runs before revoking, so the coupons of the holds it
   * releases are active again by then and revoked with the others when the incident asks for it.
   * Only rows that existed when freezing began (ids are time-ordered, see bound; the bound is
   * saved, so a resumed run freezes the same population): on a campaign that is not paused, new
   * redemptions would otherwise keep the scan chasing the traffic forever.
   */
  private async freezeAll(filter: ScopeFilter): Promise<void> {
    const start = this.startOf('freezing');
    if (start === null) return;
    const work = this.incident.work;
    if (this.incident.progress.phase !== 'freezing' || work.freeze_through_id === null) {
      // A merchant scope is resolved again as freezing begins (see rescope): those campaigns are paused too when asked.
      const added = this.incident.scope.campaign_ids === null && (await this.rescope(filter));
      if (added && this.incident.actions.includes('pause_campaigns')) await this.pauseAll();
      work.freeze_through_id = await this.bound('rdm');
    }
    const last_id = work.freeze_through_id;
    await this.enter('freezing');
    for (const campaign_id of this.incident.campaign_ids.slice(start)) {
      let after = '';
      for (;;) {
        const page = await this.store.liveRedemptionIdsInScope(
          campaign_id,
          filter,
          after,
          limits.incident_batch_ids_max,
        );
        const ids = page.filter((id) => id <= last_id);
        const last = ids[ids.length - 1];
        if (last === undefined) break;
        after = last;
        const cmd = { type: 'freeze' as const, redemption_ids: ids, ...this.commandBase() };
        const moved = await this.engine.submitCommand<FreezeOutcome>(campaign_id, cmd);
        await this.advance(moved.frozen.count + moved.released.count);
        if (ids.length < page.length) break;
      }
      await this.campaignDone();
    }
  }

  /**
   * Adds the campaigns that have rows at the scope's merchants now but had none when it was
   * scoped (their first one came while the pause step ran), saved before anything else happens
   * to them, so a row stored before freezing begins is frozen whichever campaign it is in.
   * Answers whether it added any. Appended, so a resumed pause step carries on into them.
   */
  private async rescope(filter: ScopeFilter): Promise<boolean> {
    const incident = this.incident;
    const known = new Set(incident.campaign_ids);
    const found = await this.store.campaignsWithRedemptionsAt({ ...filter, merchant_ids: filter.merchant_ids ?? [] });
    const added = found.filter((id) => !known.has(id));
    if (added.length === 0) return false;
    incident.campaign_ids = [...incident.campaign_ids, ...added];
    incident.progress.campaigns_total = incident.campaign_ids.length;
    await this.save();
    return true;
  }

  /**
   * Revokes the unredeemed coupons of every campaign in scope (active, and single-use ones on hold:
   * see revokeCoupons), a few thousand per batch, each named in its audit entry. A coupon is not
   * tied to a merchant, so a merchant scope cannot narrow this: it revokes whole campaigns (those
   * the scope resolved to). Only coupons that existed when revoking began (the bound is saved, as
   * for freezing); each batch leaves its coupons revoked, so the next page is new ones. The bound
   * is also kept on each campaign (its first batch), so reversals never restore a coupon it covers.
   */
  private async revokeAll(): Promise<void> {
    const start = this.startOf('revoking');
    if (start === null) return;
    const work = this.incident.work;
    if (this.incident.progress.phase !== 'revoking' || work.revoke_through_id === null) {
      work.revoke_through_id = await this.bound('cpn');
    }
    const last_id = work.revoke_through_id;
    await this.enter('revoking');
    for (const campaign_id of this.incident.campaign_ids.slice(start)) {
      const revoke = (coupon_ids: string[]) => {
        const cmd = { type: 'revoke_coupons' as const, coupon_ids, through_id: last_id, ...this.commandBase() };
        return this.engine.submitCommand(campaign_id, cmd);
      };
      // The bound first: once it commits, no reversal makes a coupon up to it active, so none becomes
      // unredeemed behind the pages read below (a hold released meanwhile turns its coupon from
      // reserved to active: unredeemed either way, so a page still finds it).
      await revoke([]);
      for (;;) {
        const max = limits.incident_batch_ids_max;
        const coupon_ids = await this.store.unredeemedCouponIds(campaign_id, last_id, max);
        if (coupon_ids.length === 0) break;
        await revoke(coupon_ids);
        if (coupon_ids.length < max) break;
      }
      await this.campaignDone();
    }
  }

  /**
   * The id that bounds a phase's population: this node's next id, or the newest one stored in
   * scope when that is higher. Ids order by the clock of the node that made them, so this node's
   * own would leave out rows that another node stored before now with its clock ahead, or in the
   * same millisecond with a greater random part.
   */
  private async bound(prefix: 'rdm' | 'cpn'): Promise<string> {
    const own = this.engine.ids.next(prefix, this.engine.now());
    const stored = await this.store.newestId(prefix === 'rdm' ? 'redemption' : 'coupon', this.incident.campaign_ids);
    return stored !== null && stored > own ? stored : own;
  }

  /** From the store: the rows it froze (joined to their redemptions), the holds it released, the coupons it revoked. */
  private async report(): Promise<IncidentReport> {
    await this.enter('reporting');
    const id = this.incident.id;
    const [rows, released, revoked] = await Promise.all([
      this.store.incidentReportRows(id),
      this.store.incidentReleasedHolds(id),
      this.store.incidentRevokedCoupons(id),
    ]);
    return incidentReport(rows, released, revoked, this.incident.work.paused);
  }

  private settleBatch(campaign_id: string, ids: string[]): Promise<Breakdown> {
    const type = this.incident.resolution === 'honour' ? ('unfreeze' as const) : ('reverse_many' as const);
    return this.engine.submitCommand<Breakdown>(campaign_id, { type, redemption_ids: ids, ...this.commandBase() });
  }

  private commandBase() {
    return { incident_id: this.incident.id, owner: this.owner, actor: this.incident.work.actor };
  }

  private async advance(redemptions: number): Promise<void> {
    const progress = this.incident.progress;
    const before = progress.redemptions_done;
    progress.redemptions_done += redemptions;
    await this.save();
    if (Math.floor(before / log_every) !== Math.floor(progress.redemptions_done / log_every)) {
      this.log('incident progress', { incident_id: this.incident.id, ...progress });
    }
  }

  private async campaignDone(): Promise<void> {
    this.incident.progress.campaigns_done += 1;
    await this.save();
    const phase = this.incident.progress.phase;
    if (phase === 'pausing' || phase === 'revoking') return;
    this.log('incident progress', { incident_id: this.incident.id, ...this.incident.progress });
  }

  /** Stores progress and renews the lease (GET shows progress while the work runs); the status does not change. */
  private async save(): Promise<void> {
    this.incident.progress.updated_at_ms = this.engine.now();
    const incident = this.incident;
    if (!(await this.store.updateIncident(incident, incident.status, this.lease(), null, []))) this.lost();
  }

  private async finish(from: Incident['status'], audit: MakePlatformAudit, event: string): Promise<void> {
    const events: OutboxEvent[] = [];
    const now_ms = this.engine.now();
    if (await this.engine.wantsEventNow(event)) {
      const data = incidentEventData(this.incident);
      events.push({ id: this.engine.ids.next('evt', now_ms), type: event, created_at_ms: now_ms, data });
    }
    if (!(await this.store.updateIncident(this.incident, from, this.lease(), audit, events))) this.lost();
  }

  private lost(): never {
    const { id, status } = this.incident;
    throw new Error(`incident ${id}: this process no longer holds it (${status}); another one carries the work on`);
  }

  private audit(action: string, data: unknown): MakePlatformAudit {
    const at_ms = this.engine.now();
    const actor = this.incident.work.actor;
    return (prev) => linkAudit({ chain: 'platform', at_ms, actor, action, subject: this.incident.id, data }, prev);
  }
}
