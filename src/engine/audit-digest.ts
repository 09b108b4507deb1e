import { createHash } from 'node:crypto';
import type { AuditEntry } from '../store/port.ts';
import type { ChainHeadRef } from '../store/port-audit.ts';

export type { ChainHeadRef };

/**
 * An audit digest: the head (newest link) of every chain at one moment, and one SHA-256 over
 * them. The chains are hash-linked but not keyed, so someone who can write the database can
 * delete a campaign together with its whole chain, or rewrite a chain and hash it again, and
 * the chains still verify. A digest kept outside the database (like CloudTrail's digest files or
 * QLDB's journal digests) closes that: every chain it names must still hold that exact link, and
 * a link's hash covers everything before it. The 64-hex `digest` is the part to keep where the
 * database's writers cannot reach (a ticket, a log, another system), and to hand to verify
 * (`--expect`): a file edited afterwards no longer hashes to it, and one forged whole, its digest
 * recomputed, or an older genuine one put back, carries another digest.
 */
export interface AuditDigest {
  object: 'audit_digest';
  created_at: string;
  /** sha256 over created_at and the heads, each `chain chain_seq hash\n`, in chain order (digestOf). */
  digest: string;
  chains: number;
  heads: ChainHeadRef[];
}

/** Ordered by UTF-16 code units (as JavaScript's default sort), the same on every store. */
function byChain(a: ChainHeadRef, b: ChainHeadRef): number {
  return a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0;
}

/**
 * The digest of a set of heads read at `created_at` (so an older genuine digest cannot pass for a
 * newer one); the heads' order as given does not matter.
 */
export function digestOf(created_at: string, heads: readonly ChainHeadRef[]): string {
  const hash = createHash('sha256').update(`vouchsafe audit digest 1\n${created_at}\n`);
  for (const h of [...heads].sort(byChain)) hash.update(`${h.chain} ${h.chain_seq} ${h.hash}\n`);
  return hash.digest('hex');
}

/** A head a chain can have: a link number from 1 and a sha256. */
function isLink(h: ChainHeadRef): boolean {
  return Number.isSafeInteger(h.chain_seq) && h.chain_seq >= 1 && /^[0-9a-f]{64}$/.test(h.hash);
}

/**
 * The digest of the heads as read now (Store.auditHeads). A campaign row edited so that it names
 * no link (no audit_seq or head) is left out rather than recorded as one no chain can hold; verify
 * reports that row.
 */
export function makeDigest(heads: readonly ChainHeadRef[], now_ms: number): AuditDigest {
  const sorted = heads.filter(isLink).sort(byChain);
  const created_at = new Date(now_ms).toISOString();
  return {
    object: 'audit_digest',
    created_at,
    digest: digestOf(created_at, sorted),
    chains: sorted.length,
    heads: sorted,
  };
}

/**
 * Why a digest (already of the right shape) cannot be checked against: its heads do not hash to
 * its digest, or name a chain twice. Null when it is sound.
 */
export function digestDefect(d: AuditDigest): string | null {
  if (new Set(d.heads.map((h) => h.chain)).size !== d.heads.length) return 'it names a chain twice';
  if (d.chains !== d.heads.length) return `it says ${d.chains} chains but lists ${d.heads.length}`;
  if (digestOf(d.created_at, d.heads) !== d.digest) {
    return 'its date and heads do not hash to its digest (the file was edited or damaged)';
  }
  return null;
}

/**
 * A chain against the head a digest recorded for it: the chain (whose links verifyChain checks)
 * must still hold that link with that hash. Null when it does, or when the digest names no head
 * for it (a chain begun after the digest).
 */
export function digestLinkFault(
  chain: string,
  list: ReadonlyArray<AuditEntry & { seq: number }>,
  head: ChainHeadRef | undefined,
): { seq: number; detail: string } | null {
  if (!head) return null;
  const link = list.find((e) => e.chain_seq === head.chain_seq);
  if (!link) {
    const what = list.length === 0 ? 'is gone' : `ends at link ${list[list.length - 1]?.chain_seq}`;
    return {
      seq: list[list.length - 1]?.seq ?? 0,
      detail: `audit chain ${chain} ${what}, but the digest holds its link ${head.chain_seq}`,
    };
  }
  if (link.hash !== head.hash) {
    return { seq: link.seq, detail: `audit chain ${chain} differs from the digest at link ${head.chain_seq}` };
  }
  return null;
}
