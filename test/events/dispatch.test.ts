import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { limits } from '../../src/config/limits.ts';
import { linkAudit } from '../../src/engine/audit.ts';
import { unpackOutbox } from '../../src/events/event-body.ts';
import { verifySignature } from '../../src/events/signature.ts';
import { redemptionView } from '../../src/http/views.ts';
import type { WebhookRecord } from '../../src/store/port-events.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { ListWire } from '../http/harness.ts';
import { activeCampaign, assertInvariants, envelopeTerms, order } from '../support/fixtures.ts';
import { checkPublishedEvent, type EventsHarness, eventsHarness, type Receiver, receiver } from './support.ts';

type Delivery = {
  event_id: string;
  event_type: string;
  status: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  next_attempt_at: string | null;
};

async function hook(h: EventsHarness, url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const res = await h.call<{ id: string; secret: string }>('POST', '/v1/webhooks', { url, events });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function deliveries(h: EventsHarness, id: string): Promise<Delivery[]> {
  const res = await h.call<ListWire<Delivery>>('GET', `/v1/webhooks/${id}/deliveries`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data;
}

/** A confirmed redemption of a fresh claim: one `redemption.confirmed` event. */
async function confirmedRedemption(h: EventsHarness, campaign_id: string, user_id: string) {
  const coupon = await h.engine.claim({ campaign_id, user_id }, { actor: 'key_checkout' });
  return h.engine.redeem(
    {
      user_id,
      coupon_id: coupon.id,
      order: order({ id: `o-${user_id}` }),
      confirm: true,
      device_id: 'd1',
      ip: '203.0.113.5',
    },
    { actor: 'key_checkout' },
  );
}

async function withReceivers(n: number, body: (rs: Receiver[]) => Promise<void>): Promise<void> {
  const rs = await Promise.all(Array.from({ length: n }, () => receiver()));
  try {
    await body(rs);
  } finally {
    await Promise.all(rs.map((r) => r.close()));
  }
}

test('a delivery is signed so that a receiver can verify it: t=<unix>,v1=hmac_sha256(secret, t.body)', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    const w = await hook(h, r.url, ['campaign.activated']);
    const c = await activeCampaign(h);
    assert.deepEqual(await h.events.dispatcher.runOnce(), { relayed: 1, attempted: 1 });
    const [got] = r.received;
    assert.ok(got);
    const header = String(got.headers['vouchsafe-signature']);
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    assert.ok(m, header);
    const t = Number(m[1]);
    assert.equal(t, Math.floor(h.clock.now() / 1000));
    const expected = createHmac('sha256', Buffer.from(w.secret, 'utf8')).update(`${t}.`).update(got.raw).digest('hex');
    assert.equal(m[2], expected);
    assert.equal(verifySignature(header, w.secret, got.raw, t), true);
    assert.equal(verifySignature(header, w.secret, Buffer.concat([got.raw, Buffer.from(' ')]), t), false);
    assert.equal(verifySignature(header, 'whsec_wrong', got.raw, t), false);
    assert.equal(verifySignature(header, w.secret, got.raw, t + 3600), false, 'an old signature is a replay');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.deepEqual(Object.keys(got.body), ['id', 'type', 'created_at', 'data']);
    assert.match(got.body.id, /^evt_/);
    assert.equal(got.headers['vouchsafe-event-id'], got.body.id);
    assert.equal(got.body.type, 'campaign.activated');
    assert.equal(got.body.created_at, '2026-01-01T00:01:00Z');
    assert.deepEqual(got.body.data, { campaign_id: c.id, from: 'draft', to: 'active', reason: null });
    const [d] = await deliveries(h, w.id);
    assert.deepEqual(
      { ...d, next_attempt_at: d?.next_attempt_at },
      {
        event_id: got.body.id,
        webhook_id: w.id,
        event_type: 'campaign.activated',
        status: 'delivered',
        attempt: 1,
        status_code: 200,
        error: null,
        next_attempt_at: null,
        created_at: '2026-01-01T00:01:00Z',
        updated_at: '2026-01-01T00:01:00Z',
      },
    );
    await assertInvariants(h.store);
  });
  await h.close();
});

test('a failing receiver is retried with exponential backoff until it answers 2xx', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    r.script.push(500, 503);
    const w = await hook(h, r.url, ['campaign.activated']);
    await activeCampaign(h);
    await h.events.dispatcher.runOnce();
    let [d] = await deliveries(h, w.id);
    // base 1 s, equal jitter with random 0.5: 750 ms, then 1,500 ms.
    const first_retry_ms = h.clock.now() + 750;
    assert.deepEqual([d?.status, d?.attempt, d?.status_code, d?.error], ['pending', 1, 500, 'HTTP 500']);
    assert.equal(d?.next_attempt_at, new Date(first_retry_ms).toISOString().replace('.000Z', 'Z'));
    assert.deepEqual(await h.events.dispatcher.runOnce(), { relayed: 0, attempted: 0 }, 'not due yet');
    h.clock.advance(750);
    await h.events.dispatcher.runOnce();
    [d] = await deliveries(h, w.id);
    assert.deepEqual([d?.status, d?.attempt, d?.status_code], ['pending', 2, 503]);
    h.clock.advance(1_499);
    assert.equal((await h.events.dispatcher.runOnce()).attempted, 0);
    h.clock.advance(1);
    await h.events.dispatcher.runOnce();
    [d] = await deliveries(h, w.id);
    assert.deepEqual([d?.status, d?.attempt, d?.status_code, d?.error], ['delivered', 3, 200, null]);
    assert.equal(r.received.length, 3);
    assert.equal(new Set(r.received.map((x) => x.raw.toString())).size, 1, 'every attempt sends the same bytes');
  });
  await h.close();
});

test('attempts are bounded: after the last one the delivery is failed and left alone', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    r.script.push(500, 500, 500, 500, 500);
    const w = await hook(h, r.url, ['campaign.activated']);
    await activeCampaign(h);
    for (let i = 0; i < 6; i++) {
      await h.events.dispatcher.runOnce();
      h.clock.advance(10_000);
    }
    const [d] = await deliveries(h, w.id);
    assert.deepEqual([d?.status, d?.attempt, d?.next_attempt_at], ['failed', 4, null]);
    assert.equal(r.received.length, 4, 'attempts_max of the test policy');
  });
  await h.close();
});

test('only subscribed types reach the outbox, and each webhook gets only its types', async () => {
  const h = await eventsHarness();
  await withReceivers(2, async ([ra, rb]) => {
    assert.ok(ra && rb);
    const a = await hook(h, ra.url, ['campaign.paused']);
    const b = await hook(h, rb.url, ['redemption.confirmed']);
    const c = await activeCampaign(h);
    assert.deepEqual(unpackOutbox(await h.store.pendingOutbox(100)), [], 'campaign.activated is wanted by nobody');
    const rdm = await confirmedRedemption(h, c.id, 'u1');
    await h.engine.campaignAction(c.id, 'pause', { actor: 'key_ops' }, 'drill');
    const pending = unpackOutbox(await h.store.pendingOutbox(100)).map((e) => e.type);
    assert.deepEqual(pending, ['redemption.confirmed', 'campaign.paused']);
    await h.events.dispatcher.runOnce();
    assert.deepEqual(
      ra.received.map((x) => x.body.type),
      ['campaign.paused'],
    );
    assert.deepEqual(
      rb.received.map((x) => x.body.type),
      ['redemption.confirmed'],
    );
    const data = rb.received[0]?.body.data;
    assert.equal(data?.id, rdm.id);
    assert.equal(data?.discount_minor, 1000);
    assert.equal(data?.created_at, '2026-01-01T00:01:00Z', '*_at_ms become RFC 3339 *_at');
    // The redemption as the API shows it: its order as an object, and no device or IP of the shopper.
    const stored = await h.store.getRedemption(rdm.id);
    assert.ok(stored);
    assert.equal(stored.ip, '203.0.113.5');
    assert.deepEqual(data, redemptionView(stored));
    assert.equal(data?.order?.id, stored.order_id);
    assert.ok(!('device_id' in data) && !('ip' in data) && !('order_id' in data), JSON.stringify(data));
    assert.equal((await deliveries(h, a.id)).length, 1);
    assert.equal((await deliveries(h, b.id)).length, 1);
    await assertInvariants(h.store);
  });
  await h.close();
});

test('a node event (the audit digest) reaches the outbox only when wanted, then is delivered signed', async () => {
  const h = await eventsHarness();
  try {
    await checkPublishedEvent(h);
  } finally {
    await h.close();
  }
});

test('a new webhook gets events from its creation on; a deleted one gets nothing more', async () => {
  const h = await eventsHarness();
  await withReceivers(2, async ([rx, ry]) => {
    assert.ok(rx && ry);
    await hook(h, rx.url, ['campaign.paused']);
    const c1 = await activeCampaign(h);
    await h.engine.campaignAction(c1.id, 'pause', { actor: 'key_ops' });
    h.clock.advance(1);
    const y = await hook(h, ry.url, ['campaign.paused']);
    const c2 = await activeCampaign(h);
    await h.engine.campaignAction(c2.id, 'pause', { actor: 'key_ops' });
    ry.script.push(500);
    await h.events.dispatcher.runOnce();
    assert.deepEqual(
      rx.received.map((x) => x.body.data.campaign_id),
      [c1.id, c2.id],
    );
    assert.deepEqual(
      ry.received.map((x) => x.body.data.campaign_id),
      [c2.id],
    );
    assert.equal((await deliveries(h, y.id))[0]?.status, 'pending');
    const [pending] = (await h.store.listDeliveries(y.id, { limit: 1 })).data;
    assert.equal(pending?.status, 'pending');
    assert.equal((await h.call('DELETE', `/v1/webhooks/${y.id}`)).status, 200);
    assert.equal((await h.store.listDeliveries(y.id, { limit: 1 })).data[0]?.status, 'cancelled');
    h.clock.advance(60_000);
    await h.events.dispatcher.runOnce();
    assert.equal(ry.received.length, 1, 'nothing after the delete');
  });
  await h.close();
});

test('a webhook created while a dispatcher round is under way gets the events committed after it', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    const c = await activeCampaign(h);
    // The round has relayed the outbox; before it claims deliveries, a webhook is created (on this
    // node or another) and then a campaign is paused: the event comes after the webhook.
    const claim = h.store.claimDeliveries.bind(h.store);
    let raced = false;
    h.store.claimDeliveries = async (...args) => {
      if (!raced) {
        raced = true;
        await hook(h, r.url, ['campaign.paused']);
        h.clock.advance(1);
        await h.engine.campaignAction(c.id, 'pause', { actor: 'key_ops' }, 'drill');
      }
      return claim(...args);
    };
    await h.events.dispatcher.runOnce();
    await h.events.dispatcher.runOnce();
    assert.deepEqual(
      r.received.map((x) => [x.body.type, x.body.data.campaign_id]),
      [['campaign.paused', c.id]],
    );
  });
  await h.close();
});

test('the dispatcher checks addresses again when it sends (a stored private URL is refused)', async () => {
  const h = await eventsHarness({ allow_private: false });
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    const w: WebhookRecord = {
      id: h.engine.ids.next('whk', h.clock.now()),
      url: r.url,
      events: ['campaign.activated'],
      secret: 'whsec_x',
      created_at_ms: h.clock.now(),
      deleted_at_ms: null,
    };
    const entry = { chain: 'platform', at_ms: w.created_at_ms, actor: null, action: 'webhook.created', subject: w.id };
    await h.store.insertWebhook(w, (prev) => linkAudit({ ...entry, data: {} }, prev));
    await h.events.wire();
    await activeCampaign(h);
    await h.events.dispatcher.runOnce();
    assert.equal(r.received.length, 0);
    const [d] = (await h.store.listDeliveries(w.id, { limit: 1 })).data;
    assert.equal(d?.status, 'pending');
    assert.match(d?.error ?? '', /refused/);
  });
  await h.close();
});

test('at least once across a restart: a node dies mid-attempt and another one delivers after the lease', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-events-'));
  const path = join(dir, 'vouchsafe.db');
  const h1 = await eventsHarness({}, new SqliteStore({ path }));
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    r.script.push('hang');
    const w = await hook(h1, r.url, ['campaign.activated']);
    await activeCampaign(h1);
    // Node 1 claims and sends; the receiver never answers; node 1 "dies" (is abandoned).
    const stuck = h1.events.dispatcher.runOnce();
    for (let i = 0; i < 500 && r.received.length === 0; i++) await sleep(10);
    assert.equal(r.received.length, 1);
    // Node 2 starts on the same database; before the lease runs out it leaves the delivery alone.
    const h2 = await eventsHarness({}, new SqliteStore({ path }), h1.clock.now() + 1_000);
    assert.deepEqual(await h2.events.dispatcher.runOnce(), { relayed: 0, attempted: 0 });
    h2.clock.advance(60_000);
    assert.deepEqual(await h2.events.dispatcher.runOnce(), { relayed: 0, attempted: 1 });
    assert.equal(r.received.length, 2);
    assert.equal(r.received[1]?.body.id, r.received[0]?.body.id, 'the same event, delivered again');
    const [d] = await deliveries(h2, w.id);
    assert.deepEqual([d?.status, d?.attempt, d?.status_code], ['delivered', 1, 200]);
    await assertInvariants(h2.store);
    await h2.close();
    // The first node's attempt ends when the receiver goes away; its late answer changes nothing.
    await r.close();
    await stuck;
    const [after] = (await h1.store.listDeliveries(w.id, { limit: 1 })).data;
    assert.equal(after?.status, 'delivered');
  });
  await h1.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a receiver that never answers holds only its share of the attempts, and another webhook's deliveries go on", async () => {
  // Attempts wait far longer than this test: only a dispatcher that settles each attempt on its own
  // delivers the fast receiver's later events while the slow one's requests hang.
  const tuning = { random: () => 0.5, retry: { attempts_max: 4, base_ms: 1_000, cap_ms: 10_000 }, timeout_ms: 600_000 };
  const h = await eventsHarness({ tuning });
  await withReceivers(2, async ([slow, fast]) => {
    assert.ok(slow && fast);
    for (let i = 0; i < 50; i++) slow.script.push('hang');
    await hook(h, slow.url, ['campaign.activated', 'redemption.confirmed']);
    await hook(h, fast.url, ['campaign.activated', 'redemption.confirmed']);
    const c = await activeCampaign(h);
    h.events.dispatcher.start();
    const until = async (what: string, check: () => boolean) => {
      for (let i = 0; i < 3_000 && !check(); i++) await sleep(10);
      assert.ok(check(), what);
    };
    await until(
      'both receivers got campaign.activated',
      () => slow.received.length === 1 && fast.received.length === 1,
    );
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    for (const u of users) await confirmedRedemption(h, c.id, u);
    await until('the fast receiver got every redemption while the slow one hangs', () => fast.received.length === 11);
    assert.deepEqual(
      fast.received.slice(1).map((r) => r.body.type),
      users.map(() => 'redemption.confirmed'),
    );
    // The slow receiver holds its share of the slots, no more: the rest of its deliveries wait.
    await until('the slow receiver holds its share', () => slow.received.length === limits.deliveries_per_webhook_max);
    await sleep(50);
    assert.equal(slow.received.length, limits.deliveries_per_webhook_max, 'no more than its share in flight');
    // The hanging requests end when the slow receiver goes away; stop() waits for them.
    await slow.close();
    await h.events.dispatcher.stop();
    await assertInvariants(h.store);
  });
  await h.close();
});

test('events written while no dispatcher runs are delivered after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-events-'));
  const path = join(dir, 'vouchsafe.db');
  const h1 = await eventsHarness({}, new SqliteStore({ path }));
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    await hook(h1, r.url, ['campaign.activated', 'redemption.confirmed']);
    const c = await activeCampaign(h1);
    await confirmedRedemption(h1, c.id, 'u1');
    await h1.close();
    const h2 = await eventsHarness({}, new SqliteStore({ path }), h1.clock.now() + 5_000);
    await h2.events.dispatcher.runOnce();
    assert.deepEqual(
      r.received.map((x) => x.body.type),
      ['campaign.activated', 'redemption.confirmed'],
    );
    await assertInvariants(h2.store);
    await h2.close();
  });
  rmSync(dir, { recursive: true, force: true });
});

test('incident.opened carries the incident as GET /v1/incidents/{id} shows it: the scope window as RFC 3339 from / to', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    await hook(h, r.url, ['incident.opened']);
    const c = await activeCampaign(h);
    await confirmedRedemption(h, c.id, 'u1');
    const scope = { campaign_ids: [c.id], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' };
    const opened = await h.call<{ id: string }>('POST', '/v1/incidents', {
      title: 'leak',
      scope,
      actions: ['freeze_redemptions'],
    });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    for (let i = 0; i < 20 && r.received.length === 0; i++) await h.events.dispatcher.runOnce();
    const data = r.received[0]?.body.data;
    assert.ok(data);
    assert.deepEqual(data.scope, { ...scope, merchant_ids: null });
    const shown = await h.call<Record<string, unknown>>('GET', `/v1/incidents/${opened.body.id}`);
    assert.equal(shown.body.status, 'open');
    assert.deepEqual(data, shown.body, 'the incident as GET shows it, and nothing more (no opener key id)');
    assert.ok(!JSON.stringify(data).includes('_ms"'), `no epoch milliseconds on the wire: ${JSON.stringify(data)}`);
  });
  await h.close();
});

test('a red envelope created active announces campaign.activated, as a submit does; a risky one on approval', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    await hook(h, r.url, ['campaign.activated']);
    const plain = await h.engine.envelopes.create(envelopeTerms(h, { total_minor: 4_000, count: 10 }), {
      actor: 'key_ops',
    });
    assert.equal(plain.status, 'active');
    // Cash equivalents make it risky: pending until a second key approves.
    const risky = await h.engine.envelopes.create(
      envelopeTerms(h, {
        total_minor: 4_000,
        count: 10,
        coupon: { min_spend_minor: 0, product_kinds: ['phone_top_up'], coupon_ttl_s: 86_400 },
      }),
      { actor: 'key_ops' },
    );
    assert.equal(risky.status, 'pending_approval');
    await h.events.dispatcher.runOnce();
    assert.deepEqual(
      r.received.map((x) => x.body.data),
      [{ campaign_id: plain.id, from: null, to: 'active', reason: null }],
    );
    await h.engine.campaignAction(risky.id, 'approve', { actor: 'key_checker' });
    await h.events.dispatcher.runOnce();
    assert.deepEqual(
      r.received.map((x) => x.body.data.campaign_id),
      [plain.id, risky.id],
    );
    await assertInvariants(h.store);
  });
  await h.close();
});

test('under steady traffic (the outbox is never empty when the dispatcher looks) deliveries are still attempted', async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    await hook(h, r.url, ['campaign.activated', 'campaign.paused']);
    const c = await activeCampaign(h);
    // Every relay finds a new batch's events committed since the last one, as under a sale's load.
    const relay = h.store.relayOutbox.bind(h.store);
    let relays = 0;
    let relays_at_first_delivery: number | null = null;
    const traffic_max = 200;
    h.store.relayOutbox = async (...args) => {
      relays++;
      if (relays < traffic_max) {
        const at_ms = h.clock.now();
        const data = { campaign_id: c.id, from: 'active', to: 'paused', reason: `burst ${relays}` };
        await h.store.insertEvents([
          { id: h.engine.ids.next('evt', at_ms), type: 'campaign.paused', created_at_ms: at_ms, data },
        ]);
      }
      return relay(...args);
    };
    const claim = h.store.claimDeliveries.bind(h.store);
    h.store.claimDeliveries = async (...args) => {
      const due = await claim(...args);
      if (due.length > 0) relays_at_first_delivery ??= relays;
      return due;
    };
    h.events.dispatcher.start();
    for (let i = 0; i < 3_000 && r.received.length === 0; i++) await sleep(10);
    await h.events.dispatcher.stop();
    assert.ok(r.received.length > 0, 'something was delivered');
    assert.ok(
      relays_at_first_delivery !== null && relays_at_first_delivery < traffic_max,
      `the first delivery waited for the traffic to stop: claimed after relay ${relays_at_first_delivery}`,
    );
    await assertInvariants(h.store);
  });
  await h.close();
});

test("a relay takes the outbox rows whose events fit in outbox_relay_events_max (an incident's rows hold thousands)", async () => {
  const h = await eventsHarness();
  await withReceivers(1, async ([r]) => {
    assert.ok(r);
    await hook(h, r.url, ['redemption.frozen']);
    const c = await activeCampaign(h);
    const rdm = await confirmedRedemption(h, c.id, 'u1');
    const frozen = { ...(await h.store.getRedemption(rdm.id)), status: 'frozen', incident_id: 'inc_1' };
    // Ten batches of 400 events, as freeze batches write them: one outbox row each.
    const per_row = 400;
    for (let row = 0; row < 10; row++) {
      const at_ms = h.clock.now();
      await h.store.insertEvents(
        Array.from({ length: per_row }, (_, i) => ({
          id: h.engine.ids.next('evt', at_ms),
          type: 'redemption.frozen',
          created_at_ms: at_ms,
          data: { ...frozen, id: `rdm_${row}_${i}` },
        })),
      );
    }
    const relay = h.store.relayOutbox.bind(h.store);
    const fanned: number[] = [];
    h.store.relayOutbox = (limit, at_ms, fan, ...rest) =>
      relay(
        limit,
        at_ms,
        (rows, hooks) => {
          fanned.push(unpackOutbox(rows).length);
          return fan(rows, hooks);
        },
        ...rest,
      );
    for (let i = 0; i < 20 && (await h.events.dispatcher.runOnce()).relayed > 0; i++);
    assert.equal(
      fanned.reduce((a, b) => a + b, 0),
      10 * per_row,
      'every event relayed',
    );
    assert.ok(
      fanned.every((n) => n <= limits.outbox_relay_events_max),
      `events per relay: ${fanned.join(', ')} (at most ${limits.outbox_relay_events_max})`,
    );
    assert.equal((await h.store.pendingOutbox(100)).length, 0);
  });
  await h.close();
});

test('receivers that never answer, however many, hold only their own shares: a new webhook is still delivered to', async () => {
  const tuning = { random: () => 0.5, retry: { attempts_max: 4, base_ms: 1_000, cap_ms: 10_000 }, timeout_ms: 600_000 };
  const h = await eventsHarness({ tuning });
  const share = limits.deliveries_per_webhook_max;
  // Enough hanging receivers, each with a backlog of its share, to take the 32 slots a node once had in all.
  const slow_count = Math.ceil(32 / share);
  await withReceivers(slow_count + 1, async (rs) => {
    const fast = rs[slow_count];
    const slow = rs.slice(0, slow_count);
    assert.ok(fast);
    for (const r of slow) for (let i = 0; i < 50; i++) r.script.push('hang');
    for (const r of slow) await hook(h, r.url, ['campaign.activated', 'redemption.confirmed']);
    const c = await activeCampaign(h);
    for (let i = 1; i < share; i++) await confirmedRedemption(h, c.id, `u${i}`);
    h.events.dispatcher.start();
    const until = async (what: string, check: () => boolean) => {
      for (let i = 0; i < 1_000 && !check(); i++) await sleep(10);
      assert.ok(check(), what);
    };
    await until('every slow receiver holds its share', () => slow.every((r) => r.received.length === share));
    h.clock.advance(1);
    await hook(h, fast.url, ['redemption.confirmed']);
    const rdm = await confirmedRedemption(h, c.id, 'u-late');
    await until('the new webhook got its event while the others hang', () => fast.received.length === 1);
    assert.equal(fast.received[0]?.body.data.id, rdm.id);
    assert.ok(
      slow.every((r) => r.received.length === share),
      'no slow receiver has more than its share in flight',
    );
    for (const r of slow) await r.close();
    await h.events.dispatcher.stop();
    await assertInvariants(h.store);
  });
  await h.close();
});

test('a delivery waiting in its webhook lane when the webhook is deleted is cancelled, not sent', async () => {
  const tuning = { random: () => 0.5, retry: { attempts_max: 4, base_ms: 1_000, cap_ms: 10_000 }, timeout_ms: 600_000 };
  const h = await eventsHarness({ tuning });
  // A receiver that holds every request until told to answer.
  const got: Array<{ id: string; at: number }> = [];
  const held: Array<() => void> = [];
  let deleted_at = Number.POSITIVE_INFINITY;
  let seq = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ id: JSON.parse(Buffer.concat(chunks).toString()).id, at: ++seq });
      const answer = () => res.writeHead(200).end('ok');
      if (seq > deleted_at) answer();
      else held.push(answer);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const w = await hook(h, `http://127.0.0.1:${port}/hook`, ['campaign.activated', 'redemption.confirmed']);
    const c = await activeCampaign(h);
    h.events.dispatcher.start();
    const until = async (what: string, check: () => boolean) => {
      for (let i = 0; i < 1_000 && !check(); i++) await sleep(10);
      assert.ok(check(), what);
    };
    await until('the first event is under way', () => got.length === 1);
    // Four more: the lane has room for three beside the held one, so the fourth waits on this node.
    for (let i = 0; i < 4; i++) await confirmedRedemption(h, c.id, `u${i}`);
    await until('the lane is full', () => got.length === limits.deliveries_per_webhook_max);
    await sleep(50);
    assert.equal((await h.call('DELETE', `/v1/webhooks/${w.id}`)).status, 200);
    deleted_at = seq;
    for (const answer of held.splice(0)) answer();
    await sleep(300);
    await h.events.dispatcher.stop();
    const late = got.filter((x) => x.at > deleted_at);
    assert.deepEqual(late, [], 'nothing is sent after the DELETE answered');
    const log = (await h.store.listDeliveries(w.id, { limit: 10 })).data;
    assert.equal(log.length, 5);
    assert.ok(
      log.every((d) => d.status !== 'pending'),
      JSON.stringify(log.map((d) => d.status)),
    );
  } finally {
    server.closeAllConnections();
    server.close();
  }
  await h.close();
});
