import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { nats_stream, nats_subjects } from '../../src/events/nats.ts';
import { activeCampaign, assertInvariants, order } from '../support/fixtures.ts';
import { eventsHarness } from './support.ts';

const nats_url = process.env.VOUCHSAFE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** NATS tests run, never skip, under CI and whenever VOUCHSAFE_TEST_NATS_URL names a server. */
function mustRun(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  return (
    (ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false') || Boolean(process.env.VOUCHSAFE_TEST_NATS_URL)
  );
}

async function reachable(): Promise<NatsConnection | null> {
  try {
    return await connect({ servers: nats_url, timeout: 2_000, maxReconnectAttempts: 0 });
  } catch (err) {
    const message = `NATS not reachable at ${nats_url}: start nats-server -js or set VOUCHSAFE_TEST_NATS_URL (${String(err)})`;
    if (mustRun()) throw new Error(message);
    process.stderr.write(`# ${message}\n`);
    return null;
  }
}

const nc = await reachable();

test('with NATS_URL every event is also published to JetStream: vouchsafe.<type> on VOUCHSAFE', {
  skip: nc === null ? `NATS not reachable at ${nats_url}` : false,
}, async () => {
  assert.ok(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: nats_stream, subjects: [nats_subjects] }).catch(() => undefined);
  const start_seq = (await jsm.streams.info(nats_stream)).state.last_seq + 1;
  const h = await eventsHarness({ nats_url });
  try {
    assert.equal(h.engine.wantsEvent('campaign.activated'), true, 'with NATS every type is wanted');
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, { actor: 'k' });
    await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order(), confirm: true }, { actor: 'k' });
    const round = await h.events.dispatcher.runOnce();
    assert.equal(round.attempted, 2);
    const ours = new Map<
      string,
      { subject: string; body: { id: string; type: string; data: Record<string, unknown> } }
    >();
    const consumer = await jetstream(nc).consumers.get(nats_stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start_seq,
    });
    const msgs = await consumer.fetch({ max_messages: 100, expires: 2_000 });
    for await (const m of msgs) {
      const body = m.json<{ id: string; type: string; data: Record<string, unknown> }>();
      if (body.data.campaign_id === c.id) ours.set(body.id, { subject: m.subject, body });
      if (ours.size === 2) break;
    }
    const got = [...ours.values()].map((x) => [x.subject, x.body.type]).sort();
    assert.deepEqual(got, [
      ['vouchsafe.campaign.activated', 'campaign.activated'],
      ['vouchsafe.redemption.confirmed', 'redemption.confirmed'],
    ]);
    // A repeated publish of the same event (a retry) is stored once: the event id is the message id.
    const before = (await jsm.streams.info(nats_stream)).state.messages;
    const [first] = ours.values();
    assert.ok(first);
    const ack = await jetstream(nc).publish(first.subject, JSON.stringify(first.body), { msgID: first.body.id });
    assert.equal(ack.duplicate, true);
    assert.equal((await jsm.streams.info(nats_stream)).state.messages, before);
    await assertInvariants(h.store);
  } finally {
    await h.close();
    await nc.close();
  }
});
