/** The event types of API.md; a webhook subscribes to some of them. */
export const eventTypes = [
  'campaign.activated',
  'campaign.paused',
  'redemption.confirmed',
  'redemption.reversed',
  'redemption.frozen',
  'alert.raised',
  'incident.opened',
  'incident.resolved',
  'red_envelope.grabbed',
  // Beyond API.md's list: each periodic audit digest's value (audit-digests.ts), another way out of
  // the machine for what `vouchsafe verify --expect` checks.
  'audit.digest',
] as const;

export type EventType = (typeof eventTypes)[number];

/** The delivery target that stands for NATS JetStream in the delivery queue (never a webhook id). */
export const natsTarget = 'nats';
