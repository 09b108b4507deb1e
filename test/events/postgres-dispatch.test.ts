import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { assertError } from '../http/harness.ts';
import { activeCampaign, assertInvariants, order } from '../support/fixtures.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';
import { checkPublishedEvent, eventsHarness, receiver } from './support.ts';

type Harness = Awaited<ReturnType<typeof eventsHarness>>;
type Receiver = Awaited<ReturnType<typeof receiver>>;

const db = await createTestDatabase();
after(() => db?.drop());

/**
 * Two nodes on the test's database (the first on a fresh schema, the second a node already running
 * beside it, its clock at the first's) and a webhook receiver; all closed after `body`.
 */
async function withTwoNodes(body: (h1: Harness, h2: Harness, r: Receiver) => Promise<void>): Promise<void> {
  assert.ok(db);
  const r = await receiver();
  const h1 = await eventsHarness({}, await freshPostgresStore(db));
  const h2 = await eventsHarness({}, new PostgresStore({ url: db.url }), h1.clock.now());
  try {
    await body(h1, h2, r);
  } finally {
    await h2.close();
    await h1.close();
    await r.close();
  }
}

/** Runs the node's dispatcher until a round relays and attempts nothing (at most 100 rounds). */
async function drain(h: Harness): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const round = await h.events.dispatcher.runOnce();
    if (round.relayed === 0 && round.attempted === 0) return;
  }
}

test('two nodes on one PostgreSQL relay and deliver every event exactly once between them', {
  skip: db ? false : pg_unavailable_message,
}, async () => {
  await withTwoNodes(async (h1, h2, r) => {
    const hook = await h1.call('POST', '/v1/webhooks', {
      url: r.url,
      events: ['redemption.confirmed', 'campaign.activated'],
    });
    assert.equal(hook.status, 201);
    await h2.events.wire();
    const c = await activeCampaign(h1, { per_user_limit: null, max_redemptions: null });
    const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
    await Promise.all(
      users.map(async (user_id, i) => {
        const h = i % 2 === 0 ? h1 : h2;
        const coupon = await h.engine.claim({ campaign_id: c.id, user_id }, { actor: 'k' });
        await h.engine.redeem(
          { user_id, coupon_id: coupon.id, order: order({ id: `o${i}` }), confirm: true },
          { actor: 'k' },
        );
      }),
    );
    await Promise.all([drain(h1), drain(h2), drain(h1), drain(h2)]);
    await drain(h1);
    const ids = r.received.map((x) => x.body.id);
    assert.equal(ids.length, users.length + 1, 'every confirmation and the activation');
    assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
    await assertInvariants(h1.store);
  });
});

test('PostgreSQL: a webhook made on one node receives the events another node commits right after, before that node re-reads its subscriptions', {
  skip: db ? false : pg_unavailable_message,
}, async () => {
  await withTwoNodes(async (h1, h2, r) => {
    // Node 2 is running: it read the subscriptions when nobody wanted anything, and its next re-read is
    // up to a second away (its refresh timer is not started here).
    const c = await activeCampaign(h2, { per_user_limit: null, max_redemptions: null });
    const hook = await h1.call('POST', '/v1/webhooks', {
      url: r.url,
      events: ['redemption.confirmed', 'campaign.paused', 'incident.opened'],
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    const who = { actor: 'k' };
    const coupon = await h2.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const redeemed = await h2.engine.redeem(
      { user_id: 'u1', coupon_id: coupon.id, order: order(), confirm: true },
      who,
    );
    // A batch's event (the pause) and one written outside any batch (the incident's).
    const opened = await h2.call<{ id: string }>('POST', '/v1/incidents', {
      title: 'stop it',
      scope: { campaign_ids: [c.id] },
      actions: ['pause_campaigns'],
    });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    await drain(h1);
    // Deliveries of different subjects run side by side in the webhook's lane: any order.
    const got = r.received.map((x) => [x.body.type, x.body.data.id ?? x.body.data.campaign_id]).sort();
    assert.deepEqual(got, [
      ['campaign.paused', c.id],
      ['incident.opened', opened.body.id],
      ['redemption.confirmed', redeemed.id],
    ]);
    await assertInvariants(h1.store);
  });
});

test('PostgreSQL: a node event (the audit digest) reaches the outbox only when wanted, then is delivered signed', {
  skip: db ? false : pg_unavailable_message,
}, async () => {
  assert.ok(db);
  const h = await eventsHarness({}, await freshPostgresStore(db));
  try {
    await checkPublishedEvent(h);
  } finally {
    await h.close();
  }
});

test('PostgreSQL: webhooks created at once on two nodes never pass webhooks_max (past it, the oldest would get no events)', {
  skip: db ? false : pg_unavailable_message,
}, async () => {
  await withTwoNodes(async (h1, h2) => {
    const events = ['campaign.paused'];
    for (let i = 0; i < limits.webhooks_max - 1; i++) {
      const res = await h1.call('POST', '/v1/webhooks', { url: `http://127.0.0.1:9/${i}`, events });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 === 0 ? h1 : h2).call('POST', '/v1/webhooks', { url: `http://127.0.0.1:9/r${i}`, events }),
      ),
    );
    assert.deepEqual(racing.map((r) => r.status).sort(), [201, 400, 400, 400, 400, 400]);
    for (const res of racing.filter((r) => r.status !== 201)) assertError(res, 400, 'invalid_request');
    // Counted past the bound that liveWebhooks reads up to: every live one, with an audit entry each.
    const first = await h1.store.listWebhooks({ limit: limits.webhooks_max });
    const rest = await h1.store.listWebhooks({ limit: 10, starting_after: first.data.at(-1)?.id });
    assert.equal(first.data.length + rest.data.length, limits.webhooks_max);
    const created = (await h1.store.auditChain('platform')).filter((e) => e.action === 'webhook.created');
    assert.equal(created.length, limits.webhooks_max);
  });
});
