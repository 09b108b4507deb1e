import { Rejection } from '../../domain/errors.ts';
import { linkAudit } from '../audit.ts';
import type { Actor, Engine } from '../engine.ts';

export interface EmergencyStopResult {
  paused: number;
  campaign_ids: string[];
}

/** Campaign pauses in flight at once: each is its own campaign batch, so they run side by side. */
const pauses_in_flight_max = 16;

/** Pauses one campaign; null when it left `active` meanwhile (ended, revoked): nothing to stop there. */
async function pauseOne(engine: Engine, id: string, actor: string | null, reason: string): Promise<string | null> {
  try {
    const c = await engine.campaignAction(id, 'pause', { actor }, reason);
    return c.status === 'paused' ? id : null;
  } catch (e) {
    if (e instanceof Rejection && e.code === 'invalid_state') return null;
    throw e;
  }
}

/**
 * The global kill switch: pauses every active or pending campaign, each through its own batch (so each
 * pause is on its campaign's audit chain and in the store for every node), then records the
 * stop on the platform chain. No global lock: campaigns activated after the listing are not paused.
 * A campaign whose pause fails (its store write) does not stop the others: every other campaign is
 * still paused and the stop recorded, with the ones that failed, before the first failure is thrown
 * for the caller to retry (a retry pauses what is left).
 */
export async function emergencyStop(engine: Engine, reason: string, who: Actor): Promise<EmergencyStopResult> {
  // Pending campaigns too (their holds could still be confirmed), in one pass: a campaign approved
  // or sent back to review meanwhile is listed in either status, never missed between two reads.
  const active = (await engine.campaignsWithStatus(['active', 'pending_approval'])).map((c) => c.id);
  const campaign_ids: string[] = [];
  const failed: Array<{ id: string; err: unknown }> = [];
  for (let i = 0; i < active.length; i += pauses_in_flight_max) {
    const chunk = active.slice(i, i + pauses_in_flight_max);
    const done = await Promise.allSettled(chunk.map((id) => pauseOne(engine, id, who.actor, reason)));
    for (const [j, d] of done.entries()) {
      if (d.status === 'rejected') failed.push({ id: chunk[j] ?? '', err: d.reason });
      else if (d.value !== null) campaign_ids.push(d.value);
    }
  }
  const at_ms = engine.now();
  const failed_ids = failed.length === 0 ? {} : { failed_campaign_ids: failed.map((f) => f.id) };
  const data = { reason, paused: campaign_ids.length, campaign_ids, ...failed_ids };
  await engine.store.appendPlatformAudit((prev) =>
    linkAudit(
      { chain: 'platform', at_ms, actor: who.actor, action: 'platform.emergency_stop', subject: 'platform', data },
      prev,
    ),
  );
  const first = failed[0];
  if (first) throw first.err;
  return { paused: campaign_ids.length, campaign_ids };
}
