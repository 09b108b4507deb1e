import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsTarget } from '../../src/events/event-types.ts';
import { NatsSink, nats_stream, nats_subjects } from '../../src/events/nats.ts';
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

test('an unreachable NATS_URL is logged at once, once per outage, without its password; publishes fail and retry', async () => {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const log = {
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
  };
  // Port 1 on loopback: nothing listens there, so every connect is refused at once.
  const sink = new NatsSink('nats://vouchsafe:s3cret@127.0.0.1:1', log);
  sink.connectSoon();
  for (let i = 0; i < 600 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]?.level, 'warn');
  assert.match(lines[0]?.msg ?? '', /^NATS unreachable: events wait in the outbox/);
  assert.equal(lines[0]?.obj.nats, 'nats://vouchsafe@127.0.0.1:1');
  assert.ok(!JSON.stringify(lines).includes('s3cret'), 'no password in the log');
  await assert.rejects(sink.publish('redemption.confirmed', 'evt_1', '{}'));
  await assert.rejects(sink.publish('redemption.confirmed', 'evt_2', '{}'));
  assert.equal(lines.length, 1, 'one line for the whole outage, not one per publish');
  await sink.close();
});

test('a NATS_URL with a token (nats://<token>@host) is logged without the token', async () => {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const log = {
    warn: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }),
    info: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }),
  };
  // NATS token authentication puts the token where a user name goes; port 1 on loopback refuses at once.
  const sink = new NatsSink('nats://t0kenS3cret@127.0.0.1:1', log);
  sink.connectSoon();
  for (let i = 0; i < 600 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.ok(!JSON.stringify(lines).includes('t0kenS3cret'), `no token in the log: ${JSON.stringify(lines)}`);
  assert.equal(lines[0]?.obj.nats, 'nats://127.0.0.1:1');
  await sink.close();
});

test("while NATS is down its deliveries keep waiting, past the webhooks' attempt limit", async () => {
  // Port 1 on loopback: nothing listens there. The harness gives webhooks 4 attempts, at most 10 s apart.
  const h = await eventsHarness({ nats_url: 'nats://127.0.0.1:1' });
  try {
    const c = await activeCampaign(h);
    const natsDeliveries = async () => (await h.store.listDeliveries(natsTarget, { limit: 100 })).data;
    for (let round = 0; round < 12; round++) {
      await h.events.dispatcher.runOnce();
      h.clock.advance(60_000);
    }
    const waiting = await natsDeliveries();
    assert.ok(waiting.length > 0, 'the campaign.activated event is bound for NATS');
    for (const d of waiting) {
      assert.equal(d.status, 'pending', JSON.stringify(d));
      assert.ok(d.attempt > 4, `attempted ${d.attempt} times`);
      assert.match(d.error ?? '', /^NATS: /);
    }
    assert.ok(waiting.some((d) => JSON.parse(d.payload).data.campaign_id === c.id));
  } finally {
    await h.close();
  }
});
