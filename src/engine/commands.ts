import type { Velocity } from '../domain/campaign.ts';
import type { CampaignPatch } from '../domain/campaign-change.ts';
import type { Alarm } from '../domain/detect/detector.ts';
import type { Order } from '../domain/redemption.ts';
import type { Priority } from './group-commit.ts';

/** An Idempotency-Key (already namespaced by caller) and the fingerprint of its request. */
export interface IdemKey {
  key: string;
  fingerprint: string;
}

export type CampaignAction = 'submit' | 'approve' | 'pause' | 'resume' | 'revoke' | 'end';

/**
 * Incident bulk work: `owner` is the lease holder it runs for; the batch applies it only while
 * that process holds the incident (see heldFence in incident-handlers.ts).
 */
type IncidentWork = { incident_id: string; owner: string };

/** A command applied inside a campaign's batch transaction. */
export type Command = { actor: string | null; idem?: IdemKey } & (
  | { type: 'claim'; user_id: string }
  | {
      type: 'reserve';
      coupon_id: string;
      user_id: string;
      order: Order;
      device_id: string | null;
      ip: string | null;
      confirm: boolean;
      /**
       * The velocity settings the guards counted it under (this node's copy of the campaign): the
       * batch decides nothing under others (see VelocityChanged), so a limit set on another node
       * counts from the moment it is committed, not once this node's copy expires.
       */
      velocity: Velocity | null;
    }
  | { type: 'confirm'; redemption_id: string }
  | { type: 'release'; redemption_id: string; expired: boolean }
  | { type: 'reverse'; redemption_id: string; restore_coupon: boolean }
  | ({ type: 'freeze'; redemption_ids: string[] } & IncidentWork)
  | ({ type: 'unfreeze'; redemption_ids: string[] } & IncidentWork)
  | {
      type: 'action';
      action: CampaignAction;
      reason: string | null;
      approval_threshold_minor: number;
      /** approve only: the campaign's updated_at as the approver saw it; any other version is refused. */
      expected_updated_at_ms?: number;
    }
  | { type: 'codes'; count: number }
  | {
      type: 'alert';
      alarm: Alarm;
      pause: boolean;
      /**
       * budget_burn only: the campaign's last resume (burn_base.at_ms, null for none) in the copy the
       * detector judged it on; a resume since then accepted that spending, so the alert does not pause.
       */
      resumed_at_ms?: number | null;
    }
  | ({ type: 'reverse_many'; redemption_ids: string[] } & IncidentWork)
  /** through_id: the incident's coupon bound (see IncidentWork.revoke_through_id and Campaign.revoke_through_id). */
  | ({ type: 'revoke_coupons'; coupon_ids: string[]; through_id: string } & IncidentWork)
  | { type: 'grab'; envelope_id: string; user_id: string }
  | { type: 'settle_envelope'; envelope_id: string }
  | { type: 'update'; patch: CampaignPatch }
);

/**
 * Where a command stands in its campaign's queue (GroupCommit's Priority). The kill switch's
 * commands (a pause or revoke, a detector alert that pauses) stop spending: a full queue never sheds
 * them (a flood of redemptions is when they are pressed) and they go ahead of the spending waiting
 * behind any other command (claims, reservations, confirmations, grabs), which is then decided
 * against the stopped campaign. Every other command keeps its place: a resume or an update sent
 * before a pause is applied before it.
 */
export function commandPriority(cmd: Command): Priority {
  if (cmd.type === 'action') return cmd.action === 'pause' || cmd.action === 'revoke' ? 'urgent' : 'fixed';
  if (cmd.type === 'alert') return cmd.pause ? 'urgent' : 'fixed';
  return spending.has(cmd.type) ? 'overtakable' : 'fixed';
}

const spending: ReadonlySet<Command['type']> = new Set(['claim', 'reserve', 'confirm', 'grab']);

export interface RejectionBody {
  code: string;
  message: string;
  param?: string;
}

/**
 * What a command answered; stored verbatim for idempotent replays. `replayed` marks an answer a
 * batch gave from an earlier request's record (never stored): this command had no effect of its own.
 * `velocity_now` marks a reservation the batch did not decide, counted under velocity settings the
 * locked campaign no longer has (never stored): its caller counts it again under these and resubmits.
 */
export type Outcome = ({ ok: true; value: unknown } | { ok: false; error: RejectionBody }) & {
  replayed?: true;
  velocity_now?: { velocity: Velocity | null };
};
