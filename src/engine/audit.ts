import { createHash, createHmac } from 'node:crypto';
import type { AuditEntry } from '../store/port.ts';

export const genesisHash = '0'.repeat(64);

/** JSON with object keys sorted, so the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** sha256 (hex) of a value's canonical JSON: the same value always gives the same fingerprint. */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * A red envelope's split as its creation entry records it: HMAC-SHA256 (hex) of the amounts in order, keyed
 * by the envelope's own secret key (RedEnvelope.packets_key). The chain is readable with a read key, and a
 * plain hash of a few small amounts is found by trying every split. Envelopes made before the key existed
 * were recorded with the plain fingerprint, which is what a missing key gives.
 */
export function packetsDigest(packets_minor: readonly number[], key: string | undefined): string {
  if (key === undefined) return fingerprintOf(packets_minor);
  return createHmac('sha256', key).update(canonicalJson(packets_minor)).digest('hex');
}

export type AuditDraft = Omit<AuditEntry, 'prev_hash' | 'hash' | 'chain_seq' | 'data_json'> & { data: unknown };

/**
 * hash = sha256(prev_hash || canonical(entry)). The header fields are serialized
 * canonically; the data is hashed as the exact JSON text that is stored, so a
 * verifier needs no re-serialization and any edit of a stored byte shows.
 */
export function auditHash(entry: Omit<AuditEntry, 'hash'>): string {
  const header = JSON.stringify([entry.chain, entry.chain_seq, entry.at_ms, entry.actor, entry.action, entry.subject]);
  return createHash('sha256').update(entry.prev_hash).update(header).update('\n').update(entry.data_json).digest('hex');
}

/** Links a draft after `prev` in its chain. */
export function linkAudit(draft: AuditDraft, prev: { seq: number; hash: string }): AuditEntry {
  const { data, ...header } = draft;
  const unhashed = {
    ...header,
    data_json: JSON.stringify(data) ?? 'null',
    chain_seq: prev.seq + 1,
    prev_hash: prev.hash,
  };
  return { ...unhashed, hash: auditHash(unhashed) };
}

export interface ChainCheck {
  ok: boolean;
  entries: number;
  first_bad_seq: number | null;
}

/** Walks one chain: every link must hash right and point at its predecessor. */
export function verifyChain(entries: readonly AuditEntry[]): ChainCheck {
  let prev = { seq: 0, hash: genesisHash };
  for (const e of entries) {
    const expected = auditHash({ ...e });
    if (e.chain_seq !== prev.seq + 1 || e.prev_hash !== prev.hash || e.hash !== expected) {
      return { ok: false, entries: entries.length, first_bad_seq: e.chain_seq };
    }
    prev = { seq: e.chain_seq, hash: e.hash };
  }
  return { ok: true, entries: entries.length, first_bad_seq: null };
}
