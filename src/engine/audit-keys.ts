import type { Store } from '../store/port.ts';
import { canonicalJson } from './audit.ts';
import { isRecord, type LedgerFault, type Stored } from './audit-ledger.ts';

/** What the platform chain says of one API key: the scopes it was created with, and whether it was revoked. */
interface AuditedKey {
  scopes: string;
  revoked: boolean;
  /** The entry that last said so. */
  seq: number;
}

/**
 * The stored API keys are the ones the platform chain created (api_key.created, with their scopes),
 * revoked exactly where it revoked them (api_key.revoked). A key inserted behind the audit's back, its
 * scopes raised (read to admin) or its revocation undone (a leaked key working again) shows here. Not
 * caught: a key's secret hash replaced, which the chain does not record (it holds no secret material).
 * Keys are few; one entry per key is kept. Call only on a platform chain that verified.
 */
export async function checkApiKeyLog(store: Store, chain: readonly Stored[]): Promise<LedgerFault | null> {
  const audited = new Map<string, AuditedKey>();
  for (const e of chain) {
    if (e.action === 'api_key.created') {
      const data: unknown = JSON.parse(e.data_json);
      const scopes = isRecord(data) && Array.isArray(data.scopes) ? canonicalJson([...data.scopes].sort()) : '';
      audited.set(e.subject, { scopes, revoked: false, seq: e.seq });
    } else if (e.action === 'api_key.revoked') {
      const key = audited.get(e.subject);
      if (key) Object.assign(key, { revoked: true, seq: e.seq });
    }
  }
  const tail_seq = chain[chain.length - 1]?.seq ?? 0;
  let fault: LedgerFault | null = null;
  const note = (f: LedgerFault) => {
    if (fault === null || f.seq < fault.seq) fault = f;
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
    }
  }
  return fault;
}
