import { promises as dns, lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';

/** IPv4 ranges a webhook may not reach: loopback, private, link-local, unspecified, CGNAT, multicast. */
const blocked_v4 = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const;

/** The two 16-bit groups of an IPv4 address, as they sit in an IPv6 one. */
function groupsOf(v4: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

const blocked = new BlockList();
for (const [net, bits] of blocked_v4) {
  blocked.addSubnet(net, bits, 'ipv4');
  // The same ranges reached through IPv6 translation: NAT64's well-known prefix (RFC 6052), SIIT's
  // IPv4-translated addresses (RFC 2765) and 6to4 (RFC 3056) carry an IPv4 address inside, and a
  // gateway forwards to it.
  blocked.addSubnet(`64:ff9b::${groupsOf(net)}`, 96 + bits, 'ipv6');
  blocked.addSubnet(`::ffff:0:${groupsOf(net)}`, 96 + bits, 'ipv6');
  blocked.addSubnet(`2002:${groupsOf(net)}::`, 16 + bits, 'ipv6');
}
for (const [net, bits] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
  ['64:ff9b:1::', 48], // NAT64 for local use (RFC 8215)
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo tunnels
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // the deprecated site-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

const dns_timeout_ms = 5_000;

/**
 * True for loopback and private addresses (IPv4-mapped, IPv4-translated, NAT64 and 6to4 IPv6
 * addresses are checked by the IPv4 address inside).
 */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function refuse(message: string): Rejection {
  return new Rejection('invalid_request', message, 'url');
}

/** The host of a URL as a resolver or isIP wants it: `[::1]` -> `::1`. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

async function resolveAll(host: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('DNS timeout')), dns_timeout_ms);
  });
  try {
    const found = await Promise.race([dns.lookup(host, { all: true, verbatim: true }), timeout]);
    return found.map((a) => a.address);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Parses a webhook URL and refuses one that is not http(s), carries credentials, or whose
 * host resolves (any of its addresses) to a loopback or private address, unless allowed.
 */
export async function checkWebhookUrl(raw: string, allow_private: boolean): Promise<URL> {
  if (raw.length > limits.webhook_url_chars_max) refuseTooLong();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('url is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('url must be http or https');
  if (url.username !== '' || url.password !== '') throw refuse('url must not carry credentials');
  const host = hostOf(url);
  if (host === '') throw refuse('url has no host');
  if (allow_private) return url;
  let addresses: string[];
  try {
    addresses = isIP(host) !== 0 ? [host] : await resolveAll(host);
  } catch {
    throw refuse(`url host ${host} does not resolve`);
  }
  if (addresses.length === 0) throw refuse(`url host ${host} does not resolve`);
  if (addresses.some(isPrivateAddress)) {
    throw refuse(
      'url resolves to a loopback or private address (set VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE=1 for development)',
    );
  }
  return url;
}

function refuseTooLong(): never {
  throw refuse(`url is longer than ${limits.webhook_url_chars_max} characters`);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that checks every address at connect time as well, so a
 * name that re-resolves to a private address after creation (DNS rebinding) is refused.
 */
export function guardedLookup(allow_private: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const bad = !allow_private && addresses.some((a) => isPrivateAddress(a.address));
      const first = addresses[0];
      if (bad || !first) {
        const e: NodeJS.ErrnoException = new Error(`webhook host ${hostname} resolves to a refused address`);
        e.code = 'EADDRNOTAVAIL';
        return callback(e, []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, first.address, first.family);
    });
  };
}
