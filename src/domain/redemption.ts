export type RedemptionStatus = 'reserved' | 'confirmed' | 'released' | 'reversed' | 'frozen';

export interface Order {
  id: string;
  merchant_id: string;
  amount_minor: number;
  currency: string;
  product_kind: string;
}

export interface Redemption {
  id: string;
  campaign_id: string;
  coupon_id: string;
  user_id: string;
  merchant_id: string;
  order_id: string;
  order_amount_minor: number;
  currency: string;
  product_kind: string;
  discount_minor: number;
  status: RedemptionStatus;
  hold_expires_at_ms: number | null;
  device_id: string | null;
  ip: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}

/**
 * DESIGN.md's state machine. A hold is never frozen: its checkout has not confirmed the order, so an
 * incident releases it (honouring would confirm an order nobody confirmed; reversing, refund one
 * nobody paid).
 */
const moves: Record<RedemptionStatus, readonly RedemptionStatus[]> = {
  reserved: ['confirmed', 'released'],
  confirmed: ['reversed', 'frozen'],
  frozen: ['reversed', 'confirmed'],
  released: [],
  reversed: [],
};

export function canMove(from: RedemptionStatus, to: RedemptionStatus): boolean {
  return moves[from].includes(to);
}

/** Statuses that count against limits and hold or spend budget. */
export function isLive(status: RedemptionStatus): boolean {
  return status === 'reserved' || status === 'confirmed' || status === 'frozen';
}
