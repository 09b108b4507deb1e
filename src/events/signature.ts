import { createHmac, timingSafeEqual } from 'node:crypto';

/** `t=<unix>,v1=<hex hmac_sha256(secret, t + "." + body)>`: the secret's UTF-8 bytes key the raw body bytes. */
export function signatureHeader(secret: string, body: string | Buffer, t_s: number): string {
  return `t=${t_s},v1=${hmacHex(secret, t_s, body)}`;
}

function hmacHex(secret: string, t_s: number, body: string | Buffer): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${t_s}.`).update(body).digest('hex');
}

/**
 * What a receiver does: parse the header, recompute the HMAC over the raw body, compare in
 * constant time, and refuse a timestamp older (or newer) than `tolerance_s` (replays).
 */
export function verifySignature(
  header: string,
  secret: string,
  body: string | Buffer,
  now_s: number,
  tolerance_s = 300,
): boolean {
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const [k, v] = item.split('=', 2);
    if (k === undefined || v === undefined) continue;
    parts.set(k.trim(), [...(parts.get(k.trim()) ?? []), v.trim()]);
  }
  const t_s = Number(parts.get('t')?.[0]);
  if (!Number.isSafeInteger(t_s) || Math.abs(now_s - t_s) > tolerance_s) return false;
  const expected = Buffer.from(hmacHex(secret, t_s, body), 'hex');
  return (parts.get('v1') ?? []).some((sig) => {
    const given = Buffer.from(sig, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
