import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { limits } from '../../config/limits.ts';
import { Rejection } from '../../domain/errors.ts';
import type { Incident, IncidentWork, Resolution } from '../../domain/incident.ts';
import type { Page, SizedListQuery } from '../../store/port.ts';
import type { MakePlatformAudit } from '../../store/port-incidents.ts';
import { linkAudit } from '../audit.ts';
import type { Actor, Engine } from '../engine.ts';
import { checkIncidentInput, type IncidentInput } from './incident-input.ts';
import { type IncidentLog, IncidentWorker, newProgress } from './incident-work.ts';

export type { IncidentLog } from './incident-work.ts';

/**
 * Incidents: contain a leak in one call (pause, freeze, revoke, report), then resolve it
 * (reverse or honour the frozen redemptions). Every money move is a campaign batch of at
 * most incident_batch_ids_max ids, audited on the campaign's chain with the ids it moved;
 * the incident itself is audited on the platform chain. Which rows an incident froze is
 * stored with each freeze, so the report and the resolution act on exactly those.
 *
 * The work survives its process: whoever runs it holds a lease on the incident (renewed with
 * every save); if the process dies, any process's resumeStuck (the sweeping engine calls it)
 * takes the incident over once the lease runs out and carries each step on to the end.
 */
export class Incidents {
  /** This process's name as a lease holder: where, which process, and which Incidents. */
  private readonly owner = `${hostname()}/${process.pid}/${randomBytes(6).toString('hex')}`;

  constructor(
    private readonly engine: Engine,
    private readonly log: IncidentLog = () => undefined,
  ) {}

  async get(id: string): Promise<Incident> {
    const incident = await this.engine.store.getIncident(id);
    if (!incident) throw new Rejection('not_found', 'no such incident');
    return incident;
  }

  list(q: SizedListQuery): Promise<Page<Incident>> {
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
      progress: newProgress('scoping', 0, now_ms),
      resolution: null,
      resolved: null,
      created_by: who.actor,
      created_at_ms: now_ms,
      resolved_at_ms: null,
      work: { actor: who.actor, freeze_through_id: null, revoke_through_id: null, paused: 0, resumes: 0 },
    };
    const { title, scope, actions } = input;
    const worker = this.worker(incident);
    const audit = this.audit(who.actor, 'incident.opening', incident.id, { title, scope, actions });
    await this.engine.store.insertIncident(incident, worker.lease(), audit, []);
    return worker.open();
  }

  /** reverse: frozen -> reversed (budget restored, orders refunded); honour: frozen -> confirmed. */
  async resolve(id: string, resolution: Resolution, who: Actor): Promise<Incident> {
    const incident = withWork(await this.get(id));
    if (incident.status !== 'open')
      throw new Rejection('invalid_state', `cannot resolve a ${incident.status} incident`);
    incident.status = 'resolving';
    incident.resolution = resolution;
    incident.work = { ...incident.work, actor: who.actor };
    const campaigns = await this.engine.store.incidentCampaigns(id);
    const phase = resolution === 'reverse' ? 'reversing' : 'honouring';
    incident.progress = newProgress(phase, campaigns.length, this.engine.now());
    const worker = this.worker(incident);
    // Only one resolver wins the move from open; a concurrent second one gets invalid_state.
    if (!(await this.engine.store.claimIncident(incident, 'open', worker.lease(), this.engine.now(), null))) {
      throw new Rejection('invalid_state', 'the incident is already being resolved');
    }
    return worker.resolve();
  }

  /**
   * Takes over the incidents left opening or resolving by a process that died (nobody has held
   * them for incident_lease_ms) and carries each on to the end, one at a time. A claim is one
   * conditional write, so of several nodes looking at once exactly one gets each incident; the
   * takeover is audited on the platform chain. Answers the incidents it finished.
   */
  async resumeStuck(): Promise<Incident[]> {
    const done: Incident[] = [];
    const now_ms = this.engine.now();
    for (const id of await this.engine.store.stuckIncidents(now_ms, limits.incidents_resumed_per_check_max)) {
      // A closing engine finishes the incident in hand and claims no more: shutdown stays short.
      if (this.engine.isClosing) break;
      const finished = await this.resume(id);
      if (finished) done.push(finished);
    }
    return done;
  }

  /**
   * Claims one incident nobody holds and carries it on. If that fails too, the failure is logged
   * and the incident waits twice as long as last time before the next try (up to 64 leases), so a
   * fault that repeats does not write a takeover entry every minute.
   */
  private async resume(id: string): Promise<Incident | null> {
    const store = this.engine.store;
    const found = await store.getIncident(id);
    if (!found || (found.status !== 'opening' && found.status !== 'resolving')) return null;
    const incident = withWork(found);
    incident.work.resumes += 1;
    const worker = this.worker(incident);
    const { status, progress, work } = incident;
    const data = { status, phase: progress.phase, campaigns_done: progress.campaigns_done, resumes: work.resumes };
    const audit = this.audit(null, 'incident.resumed', id, { ...data, owner: this.owner });
    if (!(await store.claimIncident(incident, status, worker.lease(), this.engine.now(), audit))) return null;
    this.log('incident resumed', { incident_id: id, ...data });
    try {
      return status === 'opening' ? await worker.open() : await worker.resolve();
    } catch (e) {
      const wait_ms = limits.incident_lease_ms * 2 ** Math.min(work.resumes - 1, 6);
      this.log('incident resume failed', { incident_id: id, error: String(e), retry_in_ms: wait_ms });
      const lease = { owner: this.owner, until_ms: this.engine.now() + wait_ms };
      // The work may have moved the status on before it failed; the stored row still has the old one.
      incident.status = status;
      await store.updateIncident(incident, status, lease, null, []).catch(() => false);
      return null;
    }
  }

  private worker(incident: Incident): IncidentWorker {
    return new IncidentWorker(this.engine, incident, this.owner, this.log);
  }

  private audit(actor: string | null, action: string, subject: string, data: unknown): MakePlatformAudit {
    const at_ms = this.engine.now();
    return (prev) => linkAudit({ chain: 'platform', at_ms, actor, action, subject, data }, prev);
  }
}

/** An incident stored before work state existed: its opener's, nothing frozen or paused on record. */
function withWork(incident: Incident): Incident {
  const stored: Partial<Pick<Incident, 'work'>> = incident;
  const work: IncidentWork = stored.work ?? {
    actor: incident.created_by,
    freeze_through_id: null,
    revoke_through_id: null,
    paused: 0,
    resumes: 0,
  };
  return { ...incident, work };
}
