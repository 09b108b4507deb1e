import assert from 'node:assert/strict';
import { limits } from '../../config/limits.ts';
import { linkAudit, verifyChain } from '../../engine/audit.ts';
import type { OutboxEvent } from '../port.ts';
import type { DeliveryRecord, MakePlatformAudit, WebhookRecord } from '../port-events.ts';
import { type Build, batch, emptyLoad, type OpenStore, seedCampaign, unpackOutbox } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

function audit(b: Build, action: string, subject: string): MakePlatformAudit {
  return (prev) =>
    linkAudit({ chain: 'platform', at_ms: b.now_ms, actor: 'key_admin', action, subject, data: {} }, prev);
}

function webhook(b: Build, events: string[] = ['campaign.paused']): WebhookRecord {
  return {
    id: b.id('whk'),
    url: 'https://hooks.example/x',
    events,
    secret: 'whsec_test',
    created_at_ms: b.now_ms,
    deleted_at_ms: null,
  };
}

function delivery(evt: OutboxEvent, webhook_id: string, now_ms: number, over: Partial<DeliveryRecord> = {}) {
  const d: DeliveryRecord = {
    event_id: evt.id,
    webhook_id,
    event_type: evt.type,
    payload: JSON.stringify({ id: evt.id }),
    attempt: 0,
    status: 'pending',
    status_code: null,
    error: null,
    next_attempt_at_ms: now_ms,
    created_at_ms: now_ms,
    updated_at_ms: now_ms,
  };
  return { ...d, ...over };
}

/** Writes `n` events through one batch of a fresh campaign; returns them. */
async function seedEvents(store: Parameters<Parameters<typeof storeTest>[2]>[0], b: Build, n: number) {
  const campaign = await seedCampaign(store, b);
  const events: OutboxEvent[] = Array.from({ length: n }, (_, i) => ({
    id: b.id('evt'),
    type: 'campaign.paused',
    created_at_ms: b.now_ms,
    data: { i },
  }));
  await batch(store, campaign.id, emptyLoad(), (_, w) => w.outbox.push(...events));
  return events;
}

/** Webhooks, the outbox relay, delivery claims and the platform chain's anchor. */
export function eventsContract(open: OpenStore): void {
  storeTest('a batch that asks for subscribed_types reads the types of the live webhooks', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const w1 = webhook(b, ['campaign.paused', 'redemption.confirmed']);
    const w2 = webhook(b, ['alert.raised']);
    await store.insertWebhook(w1, audit(b, 'webhook.created', w1.id));
    await store.insertWebhook(w2, audit(b, 'webhook.created', w2.id));
    await store.deleteWebhook(w2.id, b.now_ms + 1, audit(b, 'webhook.deleted', w2.id));
    const seen = await batch(store, campaign.id, emptyLoad({ subscribed_types: true }), () => undefined);
    assert.deepEqual(seen.subscribed_types, new Set(['campaign.paused', 'redemption.confirmed']));
    assert.equal((await batch(store, campaign.id, emptyLoad(), () => undefined)).subscribed_types, undefined);
  });

  storeTest(
    'webhooks: insert, get, list live newest first, delete once; each change audited',
    open,
    async (store, b) => {
      assert.equal(await store.platformAuditHead(), null);
      const w1 = webhook(b);
      const w2 = webhook(b, ['redemption.confirmed', 'campaign.paused']);
      await store.insertWebhook(w1, audit(b, 'webhook.created', w1.id));
      await store.insertWebhook(w2, audit(b, 'webhook.created', w2.id));
      assert.deepEqual(await store.getWebhook(w1.id), w1);
      assert.equal(await store.getWebhook('whk_none'), null);
      const p1 = await store.listWebhooks({ limit: 1 });
      assert.deepEqual(p1, { data: [w2], has_more: true });
      assert.deepEqual(await store.listWebhooks({ limit: 5, starting_after: w2.id }), { data: [w1], has_more: false });
      assert.equal(await store.deleteWebhook(w1.id, b.now_ms + 7, audit(b, 'webhook.deleted', w1.id)), true);
      assert.equal(await store.deleteWebhook(w1.id, b.now_ms + 8, audit(b, 'webhook.deleted', w1.id)), false);
      assert.equal((await store.getWebhook(w1.id))?.deleted_at_ms, b.now_ms + 7);
      assert.deepEqual(await store.liveWebhooks(), [w2]);
      const chain = await store.auditChain('platform');
      assert.deepEqual(
        chain.map((e) => e.action),
        ['webhook.created', 'webhook.created', 'webhook.deleted', 'webhook.deleted'],
      );
      assert.equal(verifyChain(chain).ok, true);
      const tail = chain[chain.length - 1];
      assert.deepEqual(await store.platformAuditHead(), { seq: tail?.chain_seq, hash: tail?.hash });
    },
  );

  storeTest('a deleted platform tail breaks the next link: appends follow the anchor', open, async (store, b) => {
    await store.appendPlatformAudit(audit(b, 'a', 'x'));
    await store.appendPlatformAudit(audit(b, 'b', 'x'));
    assert.equal((await store.platformAuditHead())?.seq, 2);
    await store.appendPlatformAudit(audit(b, 'c', 'x'));
    const chain = await store.auditChain('platform');
    assert.deepEqual(
      chain.map((e) => e.seq),
      [...chain.map((e) => e.seq)].sort((x, y) => x - y),
    );
    assert.equal((await store.platformAuditHead())?.hash, chain[2]?.hash);
  });

  storeTest('relayOutbox fans every event out once and marks its row dispatched', open, async (store, b) => {
    const events = await seedEvents(store, b, 3);
    const seen: OutboxEvent[] = [];
    const n = await store.relayOutbox(10, b.now_ms, (rows) => {
      const evts = unpackOutbox(rows);
      seen.push(...evts);
      return evts.flatMap((e) => [delivery(e, 'whk_a', b.now_ms), delivery(e, 'nats', b.now_ms)]);
    });
    assert.equal(n, 1, 'SQLite and PostgreSQL pack a batch into one row');
    assert.deepEqual(seen, events);
    assert.deepEqual(await store.pendingOutbox(10), []);
    assert.equal(await store.relayOutbox(10, b.now_ms, () => assert.fail('nothing is pending')), 0);
    const page = await store.listDeliveries('whk_a', { limit: 2 });
    assert.deepEqual(
      page.data.map((d) => d.event_id),
      [events[2]?.id, events[1]?.id],
    );
    assert.equal(page.has_more, true);
    const rest = await store.listDeliveries('whk_a', { limit: 5, starting_after: events[1]?.id ?? '' });
    assert.deepEqual(
      rest.data.map((d) => d.event_id),
      [events[0]?.id],
    );
  });

  storeTest(
    'relayOutbox takes the oldest rows whose events fit in events_max, the first row always',
    open,
    async (store, b) => {
      const rows = [await seedEvents(store, b, 3), await seedEvents(store, b, 2), await seedEvents(store, b, 4)];
      const relayed: string[][] = [];
      const take = () =>
        store.relayOutbox(
          10,
          b.now_ms,
          (got) => {
            relayed.push(unpackOutbox(got).map((e) => e.id));
            return [];
          },
          5,
        );
      assert.equal(await take(), 2, '3 + 2 events fit, the third row would pass 5');
      assert.equal(await take(), 1);
      assert.deepEqual(relayed, [
        [...(rows[0] ?? []), ...(rows[1] ?? [])].map((e) => e.id),
        (rows[2] ?? []).map((e) => e.id),
      ]);
      await seedEvents(store, b, 7);
      assert.equal(await take(), 1, 'a row with more events than events_max is taken alone');
      assert.equal(relayed[2]?.length, 7);
      assert.deepEqual(await store.pendingOutbox(10), []);
    },
  );

  storeTest('a delivery fanned out twice is kept as first written', open, async (store, b) => {
    const [e1] = await seedEvents(store, b, 1);
    assert.ok(e1);
    await store.relayOutbox(10, b.now_ms, () => [delivery(e1, 'whk_a', b.now_ms)]);
    await seedEvents(store, b, 1);
    await store.relayOutbox(10, b.now_ms, () => [delivery(e1, 'whk_a', b.now_ms, { payload: 'other', attempt: 5 })]);
    const [d] = (await store.listDeliveries('whk_a', { limit: 5 })).data;
    assert.equal(d?.payload, JSON.stringify({ id: e1.id }));
    assert.equal(d?.attempt, 0);
  });

  storeTest('claimDeliveries: due rows only, each to one claimer, again after the lease', open, async (store, b) => {
    const events = await seedEvents(store, b, 6);
    const t = b.now_ms;
    await store.relayOutbox(10, t, (rows) =>
      unpackOutbox(rows).map((e, i) => delivery(e, 'whk_a', t, { next_attempt_at_ms: i < 5 ? t : t + 100_000 })),
    );
    const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimDeliveries(t, t + 60_000, 2)));
    const ids = claims.flat().map((d) => d.event_id);
    assert.equal(ids.length, 5, 'the five due deliveries, no more');
    assert.equal(new Set(ids).size, 5, 'no delivery claimed twice');
    assert.ok(claims.flat().every((d) => d.next_attempt_at_ms === t + 60_000));
    assert.deepEqual(await store.claimDeliveries(t + 59_999, t + 70_000, 10), []);
    const again = await store.claimDeliveries(t + 60_000, t + 120_000, 10);
    assert.equal(again.length, 5, 'the leases ran out');
    const late = await store.claimDeliveries(t + 100_000, t + 160_000, 10);
    assert.deepEqual(
      late.map((d) => d.event_id),
      [events[5]?.id],
    );
  });

  storeTest('claimDeliveries leaves the targets it is told to skip for a later claim', open, async (store, b) => {
    const events = await seedEvents(store, b, 3);
    const t = b.now_ms;
    await store.relayOutbox(10, t, (rows) =>
      unpackOutbox(rows).flatMap((e) => [delivery(e, 'whk_a', t), delivery(e, 'whk_b', t), delivery(e, 'nats', t)]),
    );
    const first = await store.claimDeliveries(t, t + 60_000, 10, ['whk_a', 'nats']);
    assert.deepEqual(
      first.map((d) => d.webhook_id),
      ['whk_b', 'whk_b', 'whk_b'],
    );
    const rest = await store.claimDeliveries(t, t + 60_000, 10, []);
    assert.deepEqual(rest.map((d) => d.webhook_id).sort(), ['nats', 'nats', 'nats', 'whk_a', 'whk_a', 'whk_a']);
    assert.deepEqual(new Set(rest.map((d) => d.event_id)), new Set(events.map((e) => e.id)));
  });

  storeTest(
    'recordAttempt settles once; a stale attempt or a settled delivery is left alone',
    open,
    async (store, b) => {
      const [e] = await seedEvents(store, b, 1);
      assert.ok(e);
      const t = b.now_ms;
      await store.relayOutbox(10, t, () => [delivery(e, 'whk_a', t)]);
      const base = { event_id: e.id, webhook_id: 'whk_a', at_ms: t + 1 };
      const fail1 = { ...base, attempt: 1, status: 'pending' as const, status_code: 500, error: 'HTTP 500' };
      await store.recordAttempt({ ...fail1, next_attempt_at_ms: t + 10 });
      await store.recordAttempt({ ...fail1, status_code: 502, next_attempt_at_ms: t + 99 });
      let [d] = (await store.listDeliveries('whk_a', { limit: 1 })).data;
      assert.deepEqual([d?.attempt, d?.status_code, d?.next_attempt_at_ms], [1, 500, t + 10]);
      const ok = { ...base, attempt: 2, status: 'delivered' as const, status_code: 204, error: null };
      await store.recordAttempt({ ...ok, next_attempt_at_ms: null });
      await store.recordAttempt({ ...ok, attempt: 3, status: 'pending', next_attempt_at_ms: t });
      [d] = (await store.listDeliveries('whk_a', { limit: 1 })).data;
      assert.deepEqual([d?.attempt, d?.status, d?.status_code, d?.next_attempt_at_ms], [2, 'delivered', 204, null]);
      assert.deepEqual(await store.claimDeliveries(t + 1_000_000, t + 2_000_000, 10), []);
    },
  );

  storeTest('a webhook past webhooks_max is refused in its transaction, nothing written', open, async (store, b) => {
    for (let i = 0; i < limits.webhooks_max; i++) {
      const w = webhook(b);
      assert.equal(await store.insertWebhook(w, audit(b, 'webhook.created', w.id)), true);
    }
    const over = webhook(b);
    assert.equal(await store.insertWebhook(over, audit(b, 'webhook.created', over.id)), false);
    assert.equal(await store.getWebhook(over.id), null);
    assert.equal((await store.auditChain('platform')).length, limits.webhooks_max);
    const [oldest] = (await store.liveWebhooks()).slice(-1);
    assert.ok(oldest);
    await store.deleteWebhook(oldest.id, b.now_ms, audit(b, 'webhook.deleted', oldest.id));
    assert.equal(await store.insertWebhook(over, audit(b, 'webhook.created', over.id)), true);
  });

  storeTest(
    'deleting a webhook cancels its pending deliveries; pruning drops old settled ones',
    open,
    async (store, b) => {
      const w = webhook(b);
      await store.insertWebhook(w, audit(b, 'webhook.created', w.id));
      const [e1, e2] = await seedEvents(store, b, 2);
      assert.ok(e1 && e2);
      const t = b.now_ms;
      await store.relayOutbox(10, t, () => [delivery(e1, w.id, t), delivery(e2, w.id, t), delivery(e1, 'whk_b', t)]);
      await store.recordAttempt({
        event_id: e1.id,
        webhook_id: w.id,
        attempt: 1,
        status: 'delivered',
        status_code: 200,
        error: null,
        next_attempt_at_ms: null,
        at_ms: t,
      });
      await store.deleteWebhook(w.id, t + 5, audit(b, 'webhook.deleted', w.id));
      const statuses = (await store.listDeliveries(w.id, { limit: 5 })).data.map((d) => d.status);
      assert.deepEqual(statuses, ['cancelled', 'delivered']);
      assert.equal((await store.listDeliveries('whk_b', { limit: 5 })).data[0]?.status, 'pending');
      const pruned = await store.pruneEvents(t + 6);
      assert.equal(pruned, 3, 'two settled deliveries and the dispatched outbox row');
      assert.deepEqual(
        (await store.listDeliveries('whk_b', { limit: 5 })).data.map((d) => d.status),
        ['pending'],
      );
    },
  );
}
