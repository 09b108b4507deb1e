import type { Store } from '../store/port.ts';
import { canonicalJson } from './audit.ts';
import { earlier, isRecord, type LedgerFault, type Stored } from './audit-ledger.ts';

/** What the platform chain says of one API key: the scopes it was created with, and whether it was revoked. */
interface AuditedKey {
  scopes: string;
  revoked: boolean;
  /** The creation entry's actor, and whether that actor was a key the chain had created by then. */
  actor: string | null;
  actor_is_key: boolean;
  /** The key it replaces, as its creation entry or a rotation's revocation names it; null: none. */
  replaces: string | null;
  /** The entry that last said so. */
  seq: number;
}

/**
 * The stored API keys are the ones the platform chain created (api_key.created, with their scopes),
 * revoked exactly where it revoked them (api_key.revoked). A key inserted behind the audit's back, its
 * scopes raised (read to admin) or its revocation undone (a leaked key working again) shows here. Not
 * caught: a key's secret hash replaced, which the chain does not record (it holds no secret material).
 * Its origin too (maker-checker's lineage, domain/key-lineage.ts): the creator is the creation entry's
 * actor when that actor is a key, else none (the CLI's and the bootstrap's keys; migration
 * 130_api_key_lineage derived them so), and the key it replaces is the one its creation entry or a
 * rotation's revocation names. A key a maker minted, its creator cleared, could otherwise approve the
 * maker's campaigns.
 * Keys are few; one entry per key is kept. Call only on a platform chain that verified.
 */
export async function checkApiKeyLog(store: Store, chain: readonly Stored[]): Promise<LedgerFault | null> {
  const audited = new Map<string, AuditedKey>();
  for (const e of chain) {
    if (e.action === 'api_key.created') {
      const data: unknown = JSON.parse(e.data_json);
      const scopes = isRecord(data) && Array.isArray(data.scopes) ? canonicalJson([...data.scopes].sort()) : '';
      const replaces = isRecord(data) && typeof data.replaces === 'string' ? data.replaces : null;
      const actor_is_key = e.actor !== null && audited.has(e.actor);
      audited.set(e.subject, { scopes, revoked: false, seq: e.seq, actor: e.actor, actor_is_key, replaces });
    } else if (e.action === 'api_key.revoked') {
      const key = audited.get(e.subject);
      if (key) Object.assign(key, { revoked: true, seq: e.seq });
      // Rotations before creation entries named the key replaced: the revocation names the successor
      // (replaced_by), or, for a rotation undone, the new key's own revocation names the old (rotation_of).
      const data: unknown = JSON.parse(e.data_json);
      if (!isRecord(data)) continue;
      const successor = typeof data.replaced_by === 'string' ? audited.get(data.replaced_by) : undefined;
      if (successor && successor.replaces === null) successor.replaces = e.subject;
      if (key && key.replaces === null && typeof data.rotation_of === 'string') key.replaces = data.rotation_of;
    }
  }
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    fault = earlier(fault, f);
  };
  for (const k of await store.listApiKeys()) {
    const a = audited.get(k.id);
    if (a === undefined) {
      note({ seq: tail_seq, detail: `API key ${k.id} is not in the platform chain` });
      continue;
    }
    const scopes = canonicalJson([...k.scopes].sort());
    if (scopes !== a.scopes) note({ seq: a.seq, detail: `API key ${k.id} has scopes ${scopes}, audited ${a.scopes}` });
    else if ((k.revoked_at_ms !== null) !== a.revoked) {
      const what = (revoked: boolean) => (revoked ? 'revoked' : 'not revoked');
      note({ seq: a.seq, detail: `API key ${k.id} is ${what(k.revoked_at_ms !== null)}, audited ${what(a.revoked)}` });
    } else if (k.created_by !== a.actor && !(k.created_by === null && !a.actor_is_key)) {
      note({
        seq: a.seq,
        detail: `API key ${k.id} was created by ${k.created_by ?? 'none'}, audited ${a.actor ?? 'none'}`,
      });
    } else if (k.replaces !== a.replaces) {
      note({ seq: a.seq, detail: `API key ${k.id} replaces ${k.replaces ?? 'none'}, audited ${a.replaces ?? 'none'}` });
    }
  }
  return fault;
}
