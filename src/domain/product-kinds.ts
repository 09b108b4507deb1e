/** Product kinds that are as good as cash: a coupon on them is a cash giveaway. */
export const cashEquivalentKinds: ReadonlySet<string> = new Set([
  'phone_top_up',
  'gift_card',
  'prepaid_card',
  'cash_voucher',
]);

export const knownProductKinds: readonly string[] = [
  'merchandise',
  'virtual',
  'food',
  'travel',
  'services',
  'phone_top_up',
  'gift_card',
  'prepaid_card',
  'cash_voucher',
];

export function isCashEquivalent(kind: string): boolean {
  return cashEquivalentKinds.has(kind);
}
