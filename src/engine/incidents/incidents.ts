import { limits } from '../../config/limits.ts';
import { Rejection } from '../../domain/errors.ts';
import type { Breakdown, Incident, IncidentProgress, IncidentReport, Resolution } from '../../domain/incident.ts';
import type { ListQuery, OutboxEvent, Page } from '../../store/port.ts';
import type { MakePlatformAudit, ScopeFilter } from '../../store/port-incidents.ts';
import { linkAudit } from '../audit.ts';
import type { Actor, Engine } from '../engine.ts';
import { checkIncidentInput, type IncidentInput } from './incident-input.ts';
import { incidentReport } from './incident-report.ts';

export type IncidentLog = (msg: string, data: Record<string, unknown>) => void;

/** Progress is logged about every this many redemptions (and at the end of each campaign). */
const log_every = 50_000;

/**
 * Incidents: contain a leak in one call (pause, freeze, revoke, report), then resolve it
 * (reverse or honour the frozen redemptions). Every money move is a campaign batch of at
 * most incident_batch_ids_max ids, audited on the campaign's chain; the incident itself is
 * audited on the platform chain. Which rows an incident froze is stored with each freeze,
 * so the report and the resolution act on exactly those.
 */
export class Incidents {
  constructor(
    private readonly engine: Engine,
    private readonly log: IncidentLog = () => undefined,
  ) {}

  async get(id: string): Promise<Incident> {
    const incident = await this.engine.store.getIncident(id);
    if (!incident) throw new Rejection('not_found', 'no such incident');
    return incident;
  }

  list(q: ListQuery): Promise<Page<Incident>> {
    return this.engine.store.listIncidents(q);
  }

  /** Opens an incident and runs its actions: pause, then freeze, then revoke; answers with the report. */
  async open(input: IncidentInput, who: Actor): Promise<Incident> {
    checkIncidentInput(input);
    for (const id of input.scope.campaign_ids ?? []) {
      if (!(await this.engine.store.getCampaign(id))) {
        throw new Rejection('not_found', `no such campaign: ${id}`, 'scope.campaign_ids');
      }
    }
    const now_ms = this.engine.now();
    const incident: Incident = {
      id: this.engine.ids.next('inc', now_ms),
      status: 'opening',
      title: input.title,
      scope: input.scope,
      actions: input.actions,
      campaign_ids: [],
      report: null,
      progress: this.progress('scoping', 0),
      resolution: null,
      resolved: null,
      created_by: who.actor,
      created_at_ms: now_ms,
      resolved_at_ms: null,
    };
    const { title, scope, actions } = input;
    await this.engine.store.insertIncident(
      incident,
      this.audit(who, 'incident.opening', incident.id, { title, scope, actions }),
      [],
    );
    const filter: ScopeFilter = { merchant_ids: scope.merchant_ids, from_ms: scope.from_ms, to_ms: scope.to_ms };
    incident.campaign_ids = scope.campaign_ids ?? (await this.campaignsAtMerchants(filter));
    incident.progress = this.progress('pausing', incident.campaign_ids.length);
    await this.save(incident);
    const paused = actions.includes('pause_campaigns') ? await this.pauseAll(incident, who) : 0;
    if (actions.includes('freeze_redemptions')) await this.freezeAll(incident, filter, who);
    if (actions.includes('revoke_unredeemed')) await this.revokeAll(incident, who);
    const report = await this.report(incident, paused);
    incident.report = report;
    incident.status = 'open';
    incident.progress = { ...incident.progress, phase: 'done', updated_at_ms: this.engine.now() };
    const { frozen_count, frozen_minor, revoked_coupons } = report;
    const totals = { frozen_count, frozen_minor, revoked_coupons, paused };
    const audit = this.audit(who, 'incident.opened', incident.id, totals);
    await this.moveOrFail(incident, 'opening', audit, 'incident.opened');
    this.log('incident opened', { incident_id: incident.id, ...totals });
    return incident;
  }

  /** reverse: frozen -> reversed (budget restored, orders refunded); honour: frozen -> confirmed. */
  async resolve(id: string, resolution: Resolution, who: Actor): Promise<Incident> {
    const incident = await this.get(id);
    if (incident.status !== 'open')
      throw new Rejection('invalid_state', `cannot resolve a ${incident.status} incident`);
    incident.status = 'resolving';
    incident.resolution = resolution;
    const campaigns = await this.engine.store.incidentCampaigns(id);
    incident.progress = this.progress(resolution === 'reverse' ? 'reversing' : 'honouring', campaigns.length);
    // Only one resolver wins the move from open; a concurrent second one gets invalid_state.
    if (!(await this.engine.store.updateIncident(incident, 'open', null, []))) {
      throw new Rejection('invalid_state', 'the incident is already being resolved');
    }
    const resolved: Breakdown = { count: 0, discount_minor: 0 };
    for (const campaign_id of campaigns) {
      let after = '';
      for (;;) {
        const ids = await this.engine.store.incidentMembers(id, campaign_id, after, limits.incident_batch_ids_max);
        const last = ids[ids.length - 1];
        if (last === undefined) break;
        after = last;
        const done = await this.resolveBatch(campaign_id, ids, incident, who);
        resolved.count += done.count;
        resolved.discount_minor += done.discount_minor;
        await this.advance(incident, done.count);
      }
      await this.campaignDone(incident);
    }
    incident.status = 'resolved';
    incident.resolved = resolved;
    incident.resolved_at_ms = this.engine.now();
    incident.progress = { ...incident.progress, phase: 'done', updated_at_ms: incident.resolved_at_ms };
    const audit = this.audit(who, 'incident.resolved', id, { resolution, ...resolved });
    await this.moveOrFail(incident, 'resolving', audit, 'incident.resolved');
    this.log('incident resolved', { incident_id: id, resolution, ...resolved });
    return incident;
  }

  /** From the store: the rows this incident froze (joined to their redemptions) and the coupons it revoked. */
  private async report(incident: Incident, paused: number): Promise<IncidentReport> {
    await this.setPhase(incident, 'reporting');
    const store = this.engine.store;
    const [rows, revoked] = await Promise.all([
      store.incidentReportRows(incident.id),
      store.incidentRevokedCoupons(incident.id),
    ]);
    return incidentReport(rows, revoked, paused);
  }

  private resolveBatch(campaign_id: string, ids: string[], incident: Incident, who: Actor): Promise<Breakdown> {
    if (incident.resolution === 'honour')
      return this.engine.freezeBatch(campaign_id, ids, incident.id, who.actor, true);
    const cmd = { type: 'reverse_many' as const, redemption_ids: ids, incident_id: incident.id, actor: who.actor };
    return this.engine.submitCommand<Breakdown>(campaign_id, cmd);
  }

  /** Merchant-only scope: the campaigns with redemptions at those merchants, found by one scan. */
  private async campaignsAtMerchants(filter: ScopeFilter): Promise<string[]> {
    const merchant_ids = filter.merchant_ids ?? [];
    return this.engine.store.campaignsWithRedemptionsAt({ ...filter, merchant_ids });
  }

  /** Pauses each campaign in scope through its batch; ones that cannot pause (draft, ended, revoked) are skipped. */
  private async pauseAll(incident: Incident, who: Actor): Promise<number> {
    let paused = 0;
    const reason = `incident ${incident.id}: ${incident.title}`;
    for (const campaign_id of incident.campaign_ids) {
      try {
        const c = await this.engine.campaignAction(campaign_id, 'pause', { actor: who.actor }, reason);
        if (c.status === 'paused') paused += 1;
      } catch (e) {
        if (!(e instanceof Rejection) || e.code !== 'invalid_state') throw e;
      }
      await this.campaignDone(incident);
    }
    return paused;
  }

  /**
   * Freezes the live redemptions in scope, a few thousand ids per campaign batch, with progress.
   * Only rows that existed when freezing began (ids are time-ordered): on a campaign that is not
   * paused, new redemptions would otherwise keep the scan chasing the traffic forever.
   */
  private async freezeAll(incident: Incident, filter: ScopeFilter, who: Actor): Promise<void> {
    await this.setPhase(incident, 'freezing');
    const last_id = this.engine.ids.next('rdm', this.engine.now());
    for (const campaign_id of incident.campaign_ids) {
      let after = '';
      for (;;) {
        const store = this.engine.store;
        const page = await store.liveRedemptionIdsInScope(campaign_id, filter, after, limits.incident_batch_ids_max);
        const ids = page.filter((id) => id <= last_id);
        const last = ids[ids.length - 1];
        if (last === undefined) break;
        after = last;
        const done = await this.engine.freezeBatch(campaign_id, ids, incident.id, who.actor);
        await this.advance(incident, done.count);
        if (ids.length < page.length) break;
      }
      await this.campaignDone(incident);
    }
  }

  /**
   * Revokes the active coupons of every campaign in scope. A coupon is not tied to a merchant,
   * so a merchant scope cannot narrow this: it revokes whole campaigns (those the scope resolved to).
   */
  private async revokeAll(incident: Incident, who: Actor): Promise<void> {
    await this.setPhase(incident, 'revoking');
    for (const campaign_id of incident.campaign_ids) {
      const cmd = { type: 'revoke_coupons' as const, incident_id: incident.id, actor: who.actor };
      await this.engine.submitCommand(campaign_id, cmd);
      await this.campaignDone(incident);
    }
  }

  private progress(phase: IncidentProgress['phase'], campaigns_total: number): IncidentProgress {
    return { phase, campaigns_total, campaigns_done: 0, redemptions_done: 0, updated_at_ms: this.engine.now() };
  }

  private async setPhase(incident: Incident, phase: IncidentProgress['phase']): Promise<void> {
    incident.progress = { ...incident.progress, phase, campaigns_done: 0 };
    await this.save(incident);
  }

  private async advance(incident: Incident, redemptions: number): Promise<void> {
    const before = incident.progress.redemptions_done;
    incident.progress.redemptions_done += redemptions;
    await this.save(incident);
    if (Math.floor(before / log_every) !== Math.floor(incident.progress.redemptions_done / log_every)) {
      this.log('incident progress', { incident_id: incident.id, ...incident.progress });
    }
  }

  private async campaignDone(incident: Incident): Promise<void> {
    incident.progress.campaigns_done += 1;
    await this.save(incident);
    if (incident.progress.phase === 'pausing' || incident.progress.phase === 'revoking') return;
    this.log('incident progress', { incident_id: incident.id, ...incident.progress });
  }

  /** Stores progress (GET shows it while the work runs); the status does not change here. */
  private async save(incident: Incident): Promise<void> {
    incident.progress.updated_at_ms = this.engine.now();
    await this.engine.store.updateIncident(incident, incident.status, null, []);
  }

  private async moveOrFail(incident: Incident, from: Incident['status'], audit: MakePlatformAudit, event: string) {
    const events: OutboxEvent[] = [];
    const now_ms = this.engine.now();
    if (this.engine.wantsEvent(event)) {
      events.push({ id: this.engine.ids.next('evt', now_ms), type: event, created_at_ms: now_ms, data: incident });
    }
    if (!(await this.engine.store.updateIncident(incident, from, audit, events))) {
      throw new Error(`incident ${incident.id} left ${from} while this process was working on it`);
    }
  }

  private audit(who: Actor, action: string, subject: string, data: unknown): MakePlatformAudit {
    const at_ms = this.engine.now();
    return (prev) => linkAudit({ chain: 'platform', at_ms, actor: who.actor, action, subject, data }, prev);
  }
}
