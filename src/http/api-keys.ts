import * as crypto from 'node:crypto';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { linkAudit } from '../engine/audit.ts';
import type { IdGenerator } from '../engine/ids.ts';
import type { ApiKeyRecord, Store } from '../store/port.ts';

export type Scope = 'admin' | 'approver' | 'checkout' | 'read';

const base32Alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
/** 32 bytes = 256 bits from the CSPRNG. */
const secret_bytes = 32;
/** Longer Authorization values are refused before hashing. */
export const api_key_chars_max = 256;

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32Alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32Alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** A fresh API key secret: `vs_` then 52 base32 characters. */
export function newApiKeySecret(): string {
  return `vs_${base32(randomBytes(secret_bytes))}`;
}

/** One-shot hashing (Node >= 20.12) skips a Hash object per call; every request hashes its key. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** Keys are stored only as this hash (sha256, hex). */
export function hashApiKey(secret: string): string {
  return sha256Hex(secret);
}

/** Constant-time comparison of two hex hashes. */
export function sameHash(a_hex: string, b_hex: string): boolean {
  const a = Buffer.from(a_hex, 'hex');
  const b = Buffer.from(b_hex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

export interface NewKey {
  name: string;
  scopes: Scope[];
  /** Who creates it, as its audit entry names it: an API key id, `cli`, or null for the bootstrap. */
  actor: string | null;
  /**
   * The key that creates it and is given its secret, the start of its lineage (domain/key-lineage.ts):
   * `actor` unless given. The CLI gives null: a key made on the server has no creator.
   */
  created_by?: string | null;
  /** Rotation: the key it replaces. */
  replaces?: string;
  /** Use this secret instead of a random one (VOUCHSAFE_ADMIN_KEY). */
  secret?: string;
}

/** A new key's record (the secret hashed), its secret, and its platform audit entry. */
function prepareKey(ids: IdGenerator, now_ms: number, k: NewKey) {
  const secret = k.secret ?? newApiKeySecret();
  const record: ApiKeyRecord = {
    id: ids.next('key', now_ms),
    name: k.name,
    hash: hashApiKey(secret),
    scopes: [...k.scopes],
    created_at_ms: now_ms,
    revoked_at_ms: null,
    created_by: k.created_by === undefined ? k.actor : k.created_by,
    replaces: k.replaces ?? null,
  };
  const replaces = record.replaces === null ? {} : { replaces: record.replaces };
  const audit = (prev: { seq: number; hash: string }) =>
    linkAudit(
      {
        chain: 'platform',
        at_ms: now_ms,
        actor: k.actor,
        action: 'api_key.created',
        subject: record.id,
        data: { name: record.name, scopes: record.scopes, ...replaces },
      },
      prev,
    );
  return { record, secret, audit };
}

/** Stores a new key (as its hash) with its platform audit entry; the secret is returned once. */
export async function createApiKey(
  store: Store,
  ids: IdGenerator,
  now_ms: number,
  k: NewKey,
): Promise<{ record: ApiKeyRecord; secret: string }> {
  const { record, secret, audit } = prepareKey(ids, now_ms, k);
  await store.insertApiKey(record, audit);
  return { record, secret };
}

/**
 * createApiKey, only while the store holds no key (Store.insertFirstApiKey): null when one exists.
 * Nodes starting at once on one new store make one key between them.
 */
export async function createFirstApiKey(
  store: Store,
  ids: IdGenerator,
  now_ms: number,
  k: NewKey,
): Promise<{ record: ApiKeyRecord; secret: string } | null> {
  const { record, secret, audit } = prepareKey(ids, now_ms, k);
  return (await store.insertFirstApiKey(record, audit)) ? { record, secret } : null;
}
