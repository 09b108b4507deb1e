const canonicalAscii = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;

/**
 * A product kind is free text from many hands (campaign tools, checkouts); this is its one spelling,
 * so no rule about a kind can be missed by writing the kind differently. In order:
 * invisible format characters (zero-width spaces and joiners, `\p{Cf}`) are dropped; Unicode NFKC
 * (full-width `ＧＩＦＴ` is `GIFT`, composed and decomposed accents are one); lower case; each run of
 * whitespace, dashes, dots and underscores becomes one `_`, and none is kept at either end.
 * So `GIFT-CARD`, ` Gift  Card `, `gift.card` and `gift__card` are all `gift_card`; `giftcard` stays
 * `giftcard` (words are not guessed). A kind of separators only is `''`, which the edge refuses.
 */
export function canonicalProductKind(kind: string): string {
  // Already canonical (every kind stored or sent since kinds were canonicalized): no rewriting.
  if (canonicalAscii.test(kind)) return kind;
  return kind
    .replace(/\p{Cf}/gu, '')
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\p{Pd}._]+/gu, '_')
    .replace(/^_|_$/g, '');
}

/**
 * What makes a product kind as good as cash (a coupon on it is a cash giveaway that is easy to resell),
 * canonical, in one place. A kind is cash-equivalent when one of these appears in its canonical form as
 * whole words in a row, the last one perhaps plural: `gift_card` covers `steam_gift_card`,
 * `e_gift_card` and `gift_cards_100`; `cash` covers `cash_voucher` but not `cashmere`.
 * Only names that mean stored value: broad words (`card`, `gift`, `voucher`, `credit`, `points`) are
 * not here, since they name ordinary goods as often.
 */
export const cashEquivalentNames: readonly string[] = [
  // Phone and mobile credit.
  'top_up',
  'topup',
  'recharge',
  'airtime',
  'phone_credit',
  'mobile_credit',
  // Gift cards and their kin.
  'gift_card',
  'giftcard',
  'egift',
  'gift_certificate',
  'gift_voucher',
  // Stored value and cash itself.
  'prepaid',
  'stored_value',
  'store_credit',
  'cash',
];

const cashEquivalentWords = new RegExp(`(?:^|_)(?:${cashEquivalentNames.join('|')})s?(?:_|$)`);

/** The kinds the console offers and, less the cash-equivalent ones, a campaign's default. */
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

/** True for a kind that is as good as cash, however it is written. */
export function isCashEquivalent(kind: string): boolean {
  return cashEquivalentWords.test(canonicalProductKind(kind));
}

/**
 * True when `kinds` has `kind`, compared in canonical form on both sides: a campaign stored before
 * kinds were canonical (`Merchandise`) still matches the canonical `merchandise` a checkout sends now.
 * An empty kind matches nothing.
 */
export function hasProductKind(kinds: readonly string[], kind: string): boolean {
  const want = canonicalProductKind(kind);
  return want !== '' && (kinds.includes(want) || kinds.some((k) => canonicalProductKind(k) === want));
}
