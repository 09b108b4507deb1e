/**
 * ISO 4217 codes of the currencies in circulation (List One, as of 2026): no fund codes (USN, CLF),
 * precious metals, SDR or test codes (XAU, XDR, XTS, XXX), no offshore spellings (CNH), and none
 * withdrawn (HRK, CUC, ZWL, SLL, ANG, BGN). A list of our own rather than the runtime's ICU data,
 * which differs between Node.js builds (a node on another build would refuse what its neighbour
 * takes) and keeps withdrawn codes. Checked where a campaign or red envelope names its currency; an
 * order's currency is only compared with its campaign's (currency_mismatch), so a campaign stored
 * in a code this list no longer holds still redeems. Update it when ISO 4217 changes.
 */
const in_circulation: ReadonlySet<string> = new Set(
  `
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND
    BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE
    CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO
    NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND
    VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
  `
    .trim()
    .split(/\s+/),
);

export function isCurrencyCode(code: string): boolean {
  return in_circulation.has(code);
}

/**
 * ISO 4217's minor unit of each code whose exponent is not 2: what one unit of `_minor` money is
 * (API.md). Not the runtime's ICU data either, which writes some currencies with fewer decimals than
 * ISO 4217 has (IDR, HUF, COP, PKR with none, IQD with none for three) and differs between builds.
 */
const exponents: ReadonlyMap<string, number> = new Map([
  ...'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF'.split(' ').map((c) => [c, 0] as const),
  ...'BHD IQD JOD KWD LYD OMR TND'.split(' ').map((c) => [c, 3] as const),
]);

/** Decimal places of the currency's minor unit (ISO 4217): 2 for CNY, 0 for JPY, 3 for KWD; 2 for a code not listed. */
export function minorDigits(currency: string): number {
  return exponents.get(currency) ?? 2;
}
