import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { assertInvariants, t0 } from '../support/fixtures.ts';
import {
  afterLease,
  assertReport,
  type CrashPoint,
  closeNode,
  crashing,
  honourCrashThenRefreeze,
  leakInput,
  openCrashThenResume,
  openNode,
  resolveCrashThenResume,
  rowsWith,
  seedLeak,
  sqliteFiles,
  stalledOpenerLosesTheWork,
} from '../support/incident-faults.ts';

/** A fresh database file; every node of one scenario opens its own connection to it. */
const sqliteFile = sqliteFiles('vs-incident-resume-');

describe('incident work survives its process (SQLite file, several engines on it)', () => {
  const openPoints: Array<[string, CrashPoint]> = [
    ['after the first campaign paused', { at: 'pause', nth: 1, committed: true }],
    ['after the second freeze batch committed', { at: 'freeze', nth: 2, committed: true }],
    ['before the third freeze batch', { at: 'freeze', nth: 3, committed: false }],
    ['after the first campaign kept its revocation bound', { at: 'revoke_coupons', nth: 1, committed: true }],
    ['after the first campaign revoked', { at: 'revoke_coupons', nth: 2, committed: true }],
    ['while computing the report', { at: 'report', nth: 1, committed: false }],
  ];
  for (const [when, point] of openPoints) {
    test(`opening crashes ${when}: resumed once, report exact, each row frozen or released once`, () =>
      openCrashThenResume(sqliteFile(), point));
  }

  test('resolving (reverse) crashes after its second batch: every row reversed once, budget exact', () =>
    resolveCrashThenResume(sqliteFile(), { at: 'reverse_many', nth: 2, committed: true }));

  test('resolving (reverse) crashes before its first batch', () =>
    resolveCrashThenResume(sqliteFile(), { at: 'reverse_many', nth: 1, committed: false }));

  test('a resumed honour leaves alone the rows another incident froze since', () =>
    honourCrashThenRefreeze(sqliteFile()));

  test('an opener that stalls before a batch past its lease: its batch is refused', () =>
    stalledOpenerLosesTheWork(sqliteFile(), 'batch'));

  test('an opener that stalls before a save past its lease: its save is refused', () =>
    stalledOpenerLosesTheWork(sqliteFile(), 'save'));

  test('a takeover that fails too waits twice as long before the next; a healthy one then finishes', async () => {
    const open = sqliteFile();
    const first = await openNode(open, t0 + 60_000);
    const { a, b } = await seedLeak(first);
    const live = await rowsWith(first.store, [a, b], ['reserved', 'confirmed']);
    const boom = { at: 'freeze' as const, nth: 1, committed: false };
    await assert.rejects(new Incidents(crashing(first.engine, boom)).open(leakInput([a, b]), { actor: 'key_admin' }));
    const id = (await first.incidents.list({ limit: 1 })).data[0]?.id ?? '';
    await closeNode(first);
    const node = await openNode(open, afterLease(first));
    try {
      const lease_ms = limits.incident_lease_ms;
      for (const [attempt, wait_ms] of [
        [1, lease_ms],
        [2, 2 * lease_ms],
      ] as const) {
        const t = node.clock.now();
        assert.deepEqual(await new Incidents(crashing(node.engine, boom)).resumeStuck(), [], `attempt ${attempt}`);
        assert.deepEqual(await node.store.stuckIncidents(t + wait_ms - 1, 10), [], 'backing off');
        assert.deepEqual(await node.store.stuckIncidents(t + wait_ms, 10), [id]);
        node.clock.set(t + wait_ms);
      }
      const [done] = await node.incidents.resumeStuck();
      assert.equal(done?.status, 'open');
      assertReport(done?.report ?? null, live);
      assert.equal(done?.work.resumes, 3);
      const taken = (await node.store.auditChain('platform')).filter((e) => e.action === 'incident.resumed');
      assert.deepEqual(
        taken.map((e) => JSON.parse(e.data_json).resumes),
        [1, 2, 3],
      );
      await assertInvariants(node.store);
    } finally {
      await closeNode(node);
    }
  });

  for (const [where, point] of [
    ['pausing', { at: 'pause', nth: 1, committed: true }],
    ['freezing', { at: 'freeze', nth: 1, committed: true }],
  ] as Array<[string, CrashPoint]>) {
    test(`closing an engine while it resumes an incident (died ${where}) waits for it: the incident ends open`, async () => {
      const open = sqliteFile();
      const first = await openNode(open, t0 + 60_000);
      const { a, b } = await seedLeak(first);
      const live = await rowsWith(first.store, [a, b], ['reserved', 'confirmed']);
      const dying = new Incidents(crashing(first.engine, point));
      await assert.rejects(dying.open(leakInput([a, b]), { actor: 'key_admin' }), /injected crash/);
      const id = (await first.incidents.list({ limit: 1 })).data[0]?.id ?? '';
      await closeNode(first);

      const store = await open();
      let claimed: () => void = () => undefined;
      const taken = new Promise<void>((resolve) => {
        claimed = resolve;
      });
      const engine = await Engine.open(store, {
        clock: new ManualClock(afterLease(first)),
        log: (msg) => {
          if (msg === 'incident resumed') claimed();
        },
      });
      const resumed = engine.resumeIncidents().catch((err: unknown) => err);
      await taken;
      // As serve shuts down, right after the takeover: the engine, then the store, with the resume's batches still to run.
      const closing = engine.close();
      assert.equal(engine.close(), closing, 'a second close waits for the same shutdown');
      await closing;
      await store.close();
      assert.equal(await resumed, 1, 'the resume finished before the store closed');
      const after = await openNode(open, afterLease(first));
      try {
        const done = await after.incidents.get(id);
        assert.equal(done.status, 'open');
        assert.equal(done.work.resumes, 1);
        assertReport(done.report, live);
        await assertInvariants(after.store);
      } finally {
        await closeNode(after);
      }
    });
  }

  test('an engine that is closing claims no stuck incident: it stays for the next node, untouched', async () => {
    const open = sqliteFile();
    const first = await openNode(open, t0 + 60_000);
    const { a, b } = await seedLeak(first);
    const dying = new Incidents(crashing(first.engine, { at: 'freeze', nth: 1, committed: true }));
    await assert.rejects(dying.open(leakInput([a, b]), { actor: 'key_admin' }), /injected crash/);
    const id = (await first.incidents.list({ limit: 1 })).data[0]?.id ?? '';
    await closeNode(first);
    const node = await openNode(open, afterLease(first));
    const resumed = node.engine.resumeIncidents();
    await node.engine.close(); // before the resume has claimed anything
    assert.equal(await resumed, 0);
    assert.deepEqual(await node.store.stuckIncidents(node.clock.now(), 10), [id]);
    assert.equal((await node.incidents.get(id)).work.resumes, 0);
    await node.store.close();
  });

  test('a sweeping engine (serve) takes a dead process’s incident over by itself', async () => {
    const open = sqliteFile();
    const first = await openNode(open, t0 + 60_000);
    const { a, b } = await seedLeak(first);
    const live = await rowsWith(first.store, [a, b], ['reserved', 'confirmed']);
    const dying = new Incidents(crashing(first.engine, { at: 'freeze', nth: 1, committed: true }));
    await assert.rejects(dying.open(leakInput([a, b]), { actor: 'key_admin' }), /injected crash/);
    const id = (await first.incidents.list({ limit: 1 })).data[0]?.id ?? '';
    await closeNode(first);

    const store = await open();
    const clock = new ManualClock(afterLease(first));
    const logged: Array<{ msg: string; data: Record<string, unknown> }> = [];
    const engine = await Engine.open(store, { clock, sweep: true, log: (msg, data) => logged.push({ msg, data }) });
    try {
      const incidents = new Incidents(engine);
      const deadline = Date.now() + 10 * limits.sweep_interval_ms;
      while ((await incidents.get(id)).status !== 'open' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const done = await incidents.get(id);
      assert.equal(done.status, 'open', 'resumed by the sweeper');
      assert.ok(
        logged.some((l) => l.msg === 'incident resumed' && l.data.incident_id === id),
        `the sweeper says it resumed the incident: ${JSON.stringify(logged)}`,
      );
      assertReport(done.report, live);
      await assertInvariants(store);
    } finally {
      await engine.close();
      await store.close();
    }
  });
});
