import { Rejection } from '../domain/errors.ts';
import { linkAudit } from '../engine/audit.ts';
import type { IdGenerator } from '../engine/ids.ts';
import type { ApiKeyRecord, Store } from '../store/port.ts';
import { createApiKey, type NewKey, type Scope } from './api-keys.ts';

async function activeKey(store: Store, id: string): Promise<ApiKeyRecord> {
  const key = (await store.listApiKeys()).find((k) => k.id === id);
  if (!key) throw new Rejection('not_found', 'no such API key');
  if (key.revoked_at_ms !== null) throw new Rejection('invalid_state', 'this API key is already revoked');
  return key;
}

/** Revokes a key at once (this node; others within the key cache's second), with its platform audit entry. */
export async function revokeApiKey(
  store: Store,
  id: string,
  now_ms: number,
  actor: string | null,
  data: Record<string, unknown> = {},
): Promise<ApiKeyRecord> {
  const key = await activeKey(store, id);
  const done = await store.revokeApiKey(id, now_ms, (prev) =>
    linkAudit({ chain: 'platform', at_ms: now_ms, actor, action: 'api_key.revoked', subject: id, data }, prev),
  );
  // Another caller revoked it between the read and the write.
  if (!done) throw new Rejection('invalid_state', 'this API key is already revoked');
  return { ...key, revoked_at_ms: now_ms };
}

/**
 * Rotation: a new key with the same name and scopes, then the old one revoked. The new
 * secret is returned once. If the old key cannot be revoked (another rotation or revocation
 * got there first: 409; or the store failed), the new key is revoked again before the error
 * goes out, so a lost race leaves no live key whose secret nobody was given. A store that fails
 * for both revocations leaves the new key live (listed, its secret given to nobody, so unusable),
 * and one that commits the old key's revocation but reports a failure leaves both revoked: an
 * admin rotating its only admin key then needs `vouchsafe keys create` on the server.
 *
 * The new key records both the key it replaces and the key that rotated it (`created_by`, who is
 * given its secret), so its lineage holds both: a maker that rotates its own key, or an approver's,
 * gets no key that may approve the maker's campaigns.
 */
export async function rotateApiKey(
  store: Store,
  ids: IdGenerator,
  now_ms: number,
  id: string,
  maker: Pick<NewKey, 'actor' | 'created_by'>,
): Promise<{ record: ApiKeyRecord; secret: string; revoked: ApiKeyRecord }> {
  const { actor } = maker;
  const old = await activeKey(store, id);
  const { record, secret } = await createApiKey(store, ids, now_ms, {
    name: old.name,
    scopes: old.scopes as Scope[],
    ...maker,
    replaces: old.id,
  });
  let revoked: ApiKeyRecord;
  try {
    revoked = await revokeApiKey(store, id, now_ms, actor, { replaced_by: record.id });
  } catch (err) {
    await revokeApiKey(store, record.id, now_ms, actor, { rotation_of: id, undone: true }).catch(() => undefined);
    throw err;
  }
  return { record, secret, revoked };
}
