const canonicalAscii = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;

/**
 * A product kind is free text from many hands (campaign tools, checkouts); this is its one spelling,
 * so no rule about a kind can be missed by writing the kind differently. In order:
 * invisible format characters (zero-width spaces and joiners, `\p{Cf}`) are dropped; Unicode NFKC
 * (full-width `ＧＩＦＴ` is `GIFT`, composed and decomposed accents are one); lower case; each run of
 * anything but letters, digits and combining marks (spaces, dashes, dots, slashes, commas, `·`, `_`
 * ...) becomes one `_`, and none is kept at either end. So `GIFT-CARD`, ` Gift  Card `, `gift.card`,
 * `gift/card` and `gift__card` are all `gift_card`; `giftcard` stays `giftcard` (words are not
 * guessed). A kind of separators only is `''`, which the edge refuses.
 */
export function canonicalProductKind(kind: string): string {
  // Already canonical (every kind stored or sent since kinds were canonicalized): no rewriting.
  if (canonicalAscii.test(kind)) return kind;
  return kind
    .replace(/\p{Cf}/gu, '')
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}]+/gu, '_')
    .replace(/^_|_$/g, '');
}

/**
 * What makes a product kind as good as cash (a coupon on it is a cash giveaway that is easy to resell),
 * in one place. A kind is cash-equivalent when some of its words in a row, written together, are one
 * of these names, perhaps plural: `gift_card` covers `steam_gift_card`, `Gift-Cards-100` and
 * `giftcard`; `prepaid` covers `pre_paid_card`; `top_up` covers `Top-Up/Recharge` and `topup`; `cash`
 * covers `cash_voucher` but not `cashmere`. Only names that mean stored value: broad words (`card`,
 * `gift`, `voucher`, `credit`, `points`) are not here, since they name ordinary goods as often.
 */
export const cashEquivalentNames: readonly string[] = [
  // Phone and mobile credit.
  'top_up',
  'recharge',
  'airtime',
  'phone_credit',
  'mobile_credit',
  // Gift cards and their kin.
  'gift_card',
  'e_gift',
  'gift_certificate',
  'gift_voucher',
  // Stored value and cash itself.
  'prepaid',
  'stored_value',
  'store_credit',
  'cash',
];

/**
 * The same for scripts written without spaces between words, matched anywhere in the kind: phone
 * credit (话费), top-up (充值), gift and shopping cards (礼品卡, 购物卡), stored-value and prepaid
 * cards (储值, 预付卡), cash (现金), game point cards (点卡).
 */
export const cashEquivalentFragments: readonly string[] = [
  '话费',
  '充值',
  '礼品卡',
  '购物卡',
  '储值',
  '预付卡',
  '现金',
  '点卡',
];

const compactNames = new Set(cashEquivalentNames.map((n) => n.replaceAll('_', '')));

/** True when some words of `canonical` in a row, joined, are a listed name (or its plural). */
function namesStoredValue(canonical: string): boolean {
  const words = canonical.split('_');
  for (let i = 0; i < words.length; i++) {
    let joined = '';
    for (let j = i; j < words.length; j++) {
      joined += words[j];
      if (compactNames.has(joined) || (joined.endsWith('s') && compactNames.has(joined.slice(0, -1)))) return true;
    }
  }
  return false;
}

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

/**
 * Letters of other scripts (Cyrillic, Greek, Armenian, Latin extensions) that NFKC leaves alone but
 * that read as a Latin letter: `phone_tоp_up` with a Cyrillic `о`, or `gift_cаrd` with a Cyrillic
 * `а`, is top-up and gift card to everyone who reads it. Lower case only (the kind is lower case).
 */
const latinLookAlikes: Readonly<Record<string, string>> = {
  // Cyrillic
  а: 'a',
  в: 'b',
  с: 'c',
  ԁ: 'd',
  е: 'e',
  ё: 'e',
  һ: 'h',
  н: 'h',
  і: 'i',
  ї: 'i',
  ј: 'j',
  к: 'k',
  ӏ: 'l',
  м: 'm',
  п: 'n',
  о: 'o',
  р: 'p',
  ԛ: 'q',
  г: 'r',
  ѕ: 's',
  т: 't',
  ц: 'u',
  ѵ: 'v',
  ԝ: 'w',
  ш: 'w',
  х: 'x',
  у: 'y',
  ү: 'y',
  // Greek
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  γ: 'y',
  // Armenian
  օ: 'o',
  ս: 'u',
  հ: 'h',
  ց: 'g',
  // Latin extensions and IPA
  ɑ: 'a',
  ɡ: 'g',
  ı: 'i',
  ȷ: 'j',
  ɩ: 'i',
  ʋ: 'u',
  ɒ: 'a',
};
const lookAlikePattern = new RegExp(`[${Object.keys(latinLookAlikes).join('')}]`, 'gu');

/**
 * The kind as it reads in Latin letters: accents and other combining marks dropped (`tóp_úp`), and
 * letters of other scripts that look like Latin ones replaced by them. Only for recognising a kind;
 * never stored or compared.
 */
function readsAs(canonical: string): string {
  return canonical
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(lookAlikePattern, (ch) => latinLookAlikes[ch] ?? ch);
}

/**
 * True for a kind that is as good as cash, however it is written: in any case, with any separators,
 * full-width, or with letters of another script that look like the Latin ones (see readsAs).
 */
export function isCashEquivalent(kind: string): boolean {
  const canonical = canonicalProductKind(kind);
  if (cashEquivalentFragments.some((f) => canonical.includes(f))) return true;
  if (namesStoredValue(canonical)) return true;
  const latin = readsAs(canonical);
  return latin !== canonical && namesStoredValue(latin);
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
