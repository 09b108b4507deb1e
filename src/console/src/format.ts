import { minorDigits } from '../../domain/currency.ts';

/** Minor units in the currency's own digits (ISO 4217's, minorDigits): 12345 CNY reads "123.45 CNY". */
export function money(amount_minor: number, currency: string): string {
  const digits = minorDigits(currency);
  const sign = amount_minor < 0 ? '-' : '';
  const abs = Math.abs(amount_minor);
  const unit = 10 ** digits;
  const whole = Math.floor(abs / unit).toLocaleString('en');
  const fraction = digits === 0 ? '' : `.${String(abs % unit).padStart(digits, '0')}`;
  return `${sign}${whole}${fraction} ${currency}`;
}

export function count(n: number): string {
  return n.toLocaleString('en');
}

/** "2026-01-01 08:00 UTC" from an RFC 3339 string. */
export function when(rfc3339: string): string {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const statusLabel: Record<string, string> = {
  draft: 'Draft',
  pending_approval: 'Pending approval',
  active: 'Active',
  paused: 'Paused',
  ended: 'Ended',
  revoked: 'Revoked',
};
