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
 */
export async function emergencyStop(engine: Engine, reason: string, who: Actor): Promise<EmergencyStopResult> {
  // Pending campaigns too (their holds could still be confirmed), in one pass: a campaign approved
  // or sent back to review meanwhile is listed in either status, never missed between two reads.
  const active = (await engine.campaignsWithStatus(['active', 'pending_approval'])).map((c) => c.id);
  const campaign_ids: string[] = [];
  for (let i = 0; i < active.length; i += pauses_in_flight_max) {
    const chunk = active.slice(i, i + pauses_in_flight_max);
    const done = await Promise.all(chunk.map((id) => pauseOne(engine, id, who.actor, reason)));
    for (const id of done) if (id !== null) campaign_ids.push(id);
  }
  const at_ms = engine.now();
  const data = { reason, paused: campaign_ids.length, campaign_ids };
  await engine.store.appendPlatformAudit((prev) =>
    linkAudit(
      { chain: 'platform', at_ms, actor: who.actor, action: 'platform.emergency_stop', subject: 'platform', data },
      prev,
    ),
  );
  return { paused: campaign_ids.length, campaign_ids };
}
