import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import type { Incident, IncidentReport } from '../../src/domain/incident.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import type { Command } from '../../src/engine/commands.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { IncidentInput } from '../../src/engine/incidents/incident-input.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { unpackOutbox } from '../../src/store/contract/builders.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { assertInvariants, t0 } from './fixtures.ts';
import { bulkCampaign, seedRedemptions } from './seed.ts';

/**
 * Crash and takeover scenarios for incident work, run on every store: a process stops in the
 * middle of opening or resolving an incident, and another (a new Engine on the same database)
 * resumes it. Each one checks the money to the minor unit against the redemption rows.
 */

/** One process: its own store connection(s) to the shared database, its engine, its clock. */
export interface Node {
  store: Store;
  engine: Engine;
  clock: ManualClock;
  incidents: Incidents;
}

/** Opens a node on the shared database whose clock reads `at_ms`. */
export type OpenStore = () => Promise<Store>;

/**
 * Fresh SQLite database files in one temporary folder, removed when the test file ends (call it
 * at the top of a test file): each call of the answer is a new file, which every node of one
 * scenario opens its own connection to.
 */
export function sqliteFiles(prefix: string): () => OpenStore {
  const root = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(root, { recursive: true, force: true }));
  let files = 0;
  return () => {
    const path = join(root, `case-${files++}`, 'vouchsafe.db');
    return async () => new SqliteStore({ path, synchronous: 'NORMAL' });
  };
}

export async function openNode(open: OpenStore, at_ms: number): Promise<Node> {
  const store = await open();
  const clock = new ManualClock(at_ms);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
  return { store, engine, clock, incidents: new Incidents(engine) };
}

export async function closeNode(n: Node): Promise<void> {
  await n.engine.close();
  await n.store.close();
}

/** Where the injected crash hits: the nth command of a kind, before or after it commits; or the report. */
export type CrashPoint =
  | { at: Command['type'] | 'pause'; nth: number; committed: boolean }
  | { at: 'report'; nth: 1; committed: false };

const crash = new Error('injected crash');

/** A stall: the process stops at a point (reached) until the test lets it go on (release). */
export class Hold {
  reached: Promise<void>;
  released: Promise<void>;
  reach: () => void = () => undefined;
  release: () => void = () => undefined;

  constructor() {
    this.reached = new Promise((resolve) => {
      this.reach = resolve;
    });
    this.released = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  async stall(): Promise<void> {
    this.reach();
    await this.released;
  }
}

/**
 * The engine as incident work sees it, made to throw at one point, the way a process dies: the
 * work stops there; what committed stays, nothing after it runs. With a `hold`, the nth command
 * waits for it instead (a process that stalls), before it is submitted.
 */
export function crashing(engine: Engine, point: CrashPoint, hold?: Hold): Engine {
  let seen = 0;
  const hits = (kind: string) => kind === point.at && ++seen === point.nth;
  const around = async <T>(kind: string, run: () => Promise<T>): Promise<T> => {
    const hit = hits(kind);
    if (hit && hold) await hold.stall();
    else if (hit && !point.committed) throw crash;
    const value = await run();
    if (hit && point.committed && !hold) throw crash;
    return value;
  };
  const store = new Proxy(engine.store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'incidentReportRows' && point.at === 'report') return () => Promise.reject(crash);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'store') return store;
      if (prop === 'submitCommand') {
        return <T>(campaign_id: string, cmd: Command) =>
          around(cmd.type, () => target.submitCommand<T>(campaign_id, cmd));
      }
      if (prop === 'pauseForIncident') {
        return (...args: Parameters<Engine['pauseForIncident']>) =>
          around('pause', () => target.pauseForIncident(...args));
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Two bulk campaigns in scope (two freeze batches each) and one outside it; every row a real redemption. */
export async function seedLeak(n: Node) {
  const a = await bulkCampaign(n.engine, 'LEAKA');
  const b = await bulkCampaign(n.engine, 'LEAKB');
  const outside = await bulkCampaign(n.engine, 'CALM');
  await seedRedemptions(n.engine, 'LEAKA', limits.incident_batch_ids_max + 700, { merchants: 7 });
  await seedRedemptions(n.engine, 'LEAKB', limits.incident_batch_ids_max + 300, { merchants: 7, offset: 10_000 });
  await seedRedemptions(n.engine, 'CALM', 300, { merchants: 7, offset: 20_000 });
  return { a: a.id, b: b.id, outside: outside.id };
}

export function leakInput(campaign_ids: string[], actions?: IncidentInput['actions']): IncidentInput {
  return {
    title: 'leak',
    scope: { campaign_ids, merchant_ids: null, from_ms: null, to_ms: null },
    actions: actions ?? ['pause_campaigns', 'freeze_redemptions', 'revoke_unredeemed'],
  };
}

/** The redemptions of these campaigns with one of `statuses`, read from the rows. */
export async function rowsWith(store: Store, campaign_ids: string[], statuses: string[]): Promise<Redemption[]> {
  const out: Redemption[] = [];
  for (const id of campaign_ids) {
    await store.forEachRedemption(id, (page) => {
      for (const r of page) if (statuses.includes(r.status)) out.push({ ...r });
    });
  }
  return out;
}

function sums(rows: readonly Redemption[], key: (r: Redemption) => string) {
  const m = new Map<string, { count: number; discount_minor: number }>();
  for (const r of rows) {
    const s = m.get(key(r)) ?? { count: 0, discount_minor: 0 };
    s.count += 1;
    s.discount_minor += r.discount_minor;
    m.set(key(r), s);
  }
  return m;
}

function asMap<K extends string>(
  list: ReadonlyArray<Record<K, string> & { count: number; discount_minor: number }>,
  key: K,
) {
  return new Map(list.map((x) => [x[key], { count: x.count, discount_minor: x.discount_minor }]));
}

/** The rows an incident's freeze moves, as they were before it: the holds it releases, the confirmed ones it freezes. */
export function splitLive(rows: readonly Redemption[]): { holds: Redemption[]; confirmed: Redemption[] } {
  return {
    holds: rows.filter((r) => r.status === 'reserved'),
    confirmed: rows.filter((r) => r.status !== 'reserved'),
  };
}

export function minorOf(rows: readonly Redemption[]): number {
  return rows.reduce((s, r) => s + r.discount_minor, 0);
}

/**
 * The report against a fresh computation from the rows it should cover, as they were before it
 * opened: the holds among them released, the rest frozen (totals and every breakdown).
 */
export function assertReport(report: IncidentReport | null, before: readonly Redemption[]): void {
  assert.ok(report);
  const { holds, confirmed: rows } = splitLive(before);
  assert.equal(report.frozen_count, rows.length);
  assert.equal(report.frozen_minor, minorOf(rows));
  assert.deepEqual([report.released_holds_count, report.released_holds_minor], [holds.length, minorOf(holds)]);
  assert.deepEqual(
    asMap(report.by_campaign, 'campaign_id'),
    sums(rows, (r) => r.campaign_id),
  );
  assert.deepEqual(
    asMap(report.by_merchant, 'merchant_id'),
    sums(rows, (r) => r.merchant_id),
  );
  assert.deepEqual(
    asMap(report.by_product_kind, 'product_kind'),
    sums(rows, (r) => r.product_kind),
  );
}

/**
 * How many times each redemption id was announced by events of `type` (null: of any type), and
 * named by chain entries of `action`.
 */
export async function timesMoved(store: Store, campaign_ids: string[], type: string | null, action: string) {
  const events = new Map<string, number>();
  for (const e of unpackOutbox(await store.pendingOutbox(1_000_000))) {
    if (type !== null && e.type !== type) continue;
    if (type === null && !e.type.startsWith('redemption.')) continue;
    const id = String((e.data as { id: string }).id);
    events.set(id, (events.get(id) ?? 0) + 1);
  }
  const audited = new Map<string, number>();
  for (const campaign_id of campaign_ids) {
    for (const entry of await store.auditChain(campaign_id)) {
      if (entry.action !== action) continue;
      const data = JSON.parse(entry.data_json) as { redemption_ids: string[] };
      for (const id of data.redemption_ids) audited.set(id, (audited.get(id) ?? 0) + 1);
    }
  }
  return { events, audited };
}

/** Every id of `rows` moved exactly once (one event, one audit mention) and no other id at all. */
export async function assertMovedOnce(
  store: Store,
  rows: readonly Redemption[],
  campaign_ids: string[],
  type: string,
  action: string,
): Promise<void> {
  const { events, audited } = await timesMoved(store, campaign_ids, type, action);
  const once = new Map(rows.map((r) => [r.id, 1]));
  assert.deepEqual(events, once, `${type} events: one per redemption`);
  assert.deepEqual(audited, once, `${action} entries: each redemption named once`);
}

/**
 * What an opening's freeze did with the rows live before it, exactly once each: its confirmed ones
 * frozen (one redemption.frozen event, one redemptions.frozen mention), its holds released (one
 * redemptions.released mention, and no event: a release never sends one); the rows say so too.
 */
export async function assertFrozenAndReleasedOnce(
  store: Store,
  before: readonly Redemption[],
  campaign_ids: string[],
): Promise<void> {
  const { holds, confirmed } = splitLive(before);
  assert.ok(holds.length > 0 && confirmed.length > 0, 'both kinds were live');
  await assertMovedOnce(store, confirmed, campaign_ids, 'redemption.frozen', 'redemptions.frozen');
  const { events, audited } = await timesMoved(store, campaign_ids, null, 'redemptions.released');
  assert.deepEqual(audited, new Map(holds.map((r) => [r.id, 1])), 'redemptions.released entries: each hold once');
  for (const r of holds) assert.equal(events.get(r.id), undefined, `no event announces the release of ${r.id}`);
  const ids = (rows: readonly Redemption[]) => rows.map((r) => r.id).sort();
  assert.deepEqual(ids(await rowsWith(store, campaign_ids, ['frozen'])), ids(confirmed));
  assert.deepEqual(ids(await rowsWith(store, campaign_ids, ['released'])), ids(holds));
}

/** The lease plus a little: when a node may take over an incident a dead one held. */
export function afterLease(n: Node): number {
  return n.clock.now() + limits.incident_lease_ms + 1;
}

/** Resumes on `nodes` at once; exactly one of them must take the incident. */
export async function resumeOnOne(nodes: Node[], id: string): Promise<Incident> {
  const all = await Promise.all(nodes.map((n) => n.incidents.resumeStuck()));
  const done = all.flat();
  assert.equal(done.length, 1, `resumed by ${all.map((d) => d.length).join(' + ')} nodes`);
  const [incident] = done;
  assert.ok(incident && incident.id === id);
  return incident;
}

/** The platform chain records one takeover per resumption. */
export async function resumedEntries(store: Store, id: string): Promise<number> {
  return (await store.auditChain('platform')).filter((e) => e.action === 'incident.resumed' && e.subject === id).length;
}

/**
 * Opening crashes at `point`; two other nodes resume it at once after the lease. The incident
 * is then open with a report equal to a fresh computation from the rows that were live in scope,
 * each confirmed one frozen and each hold released exactly once, both campaigns paused, the shared
 * codes revoked, and the store verifies.
 */
export async function openCrashThenResume(open: OpenStore, point: CrashPoint): Promise<void> {
  const first = await openNode(open, t0 + 60_000);
  const { a, b, outside } = await seedLeak(first);
  const live = await rowsWith(first.store, [a, b], ['reserved', 'confirmed']);
  const untouched = await first.engine.getCampaign(outside);
  const dying = new Incidents(crashing(first.engine, point));
  await assert.rejects(dying.open(leakInput([a, b]), { actor: 'key_admin' }), crash);
  const stuck = (await first.incidents.list({ limit: 1 })).data[0];
  assert.ok(stuck);
  assert.equal(stuck.status, 'opening');
  // Mid-revocation (a bound kept, coupons up to it not all revoked yet) the store still verifies.
  await assertInvariants(first.store);
  await closeNode(first);

  const early = await openNode(open, afterLease(first) - 2);
  assert.deepEqual(await early.incidents.resumeStuck(), [], 'the lease of the dead process has not run out');
  const nodes = [early, await openNode(open, afterLease(first))];
  early.clock.set(afterLease(first));
  try {
    const done = await resumeOnOne(nodes, stuck.id);
    assert.equal(done.status, 'open');
    const stored = await early.incidents.get(stuck.id);
    assert.equal(stored.status, 'open');
    assertReport(stored.report, live);
    assert.equal(stored.report?.paused_campaigns, 2);
    assert.equal(stored.report?.revoked_coupons, 2, 'the two shared codes, once each');
    await assertFrozenAndReleasedOnce(early.store, live, [a, b]);
    for (const id of [a, b]) {
      const bound = (await early.engine.getCampaign(id)).revoke_through_id;
      assert.equal(bound, stored.work.revoke_through_id, 'each campaign keeps the revocation bound');
    }
    for (const id of [a, b]) assert.equal((await early.engine.getCampaign(id)).status, 'paused');
    assert.deepEqual(await early.engine.getCampaign(outside), untouched);
    assert.equal(await resumedEntries(early.store, stuck.id), 1);
    await assertInvariants(early.store);
  } finally {
    for (const n of nodes) await closeNode(n);
  }
}

/**
 * Resolving (reverse) crashes at `point`; two nodes resume it at once. Every frozen row is then
 * reversed exactly once, the budget has every minor unit back, and the store verifies.
 */
export async function resolveCrashThenResume(open: OpenStore, point: CrashPoint): Promise<void> {
  const first = await openNode(open, t0 + 60_000);
  const { a, b } = await seedLeak(first);
  const live = await rowsWith(first.store, [a, b], ['reserved', 'confirmed']);
  const opened = await first.incidents.open(leakInput([a, b], ['freeze_redemptions']), { actor: 'key_admin' });
  const frozen = await rowsWith(first.store, [a, b], ['frozen']);
  assertReport(opened.report, live);
  const dying = new Incidents(crashing(first.engine, point));
  await assert.rejects(dying.resolve(opened.id, 'reverse', { actor: 'key_admin' }), crash);
  assert.equal((await first.incidents.get(opened.id)).status, 'resolving');
  await closeNode(first);

  const nodes = [await openNode(open, afterLease(first)), await openNode(open, afterLease(first))];
  const [one] = nodes;
  assert.ok(one);
  try {
    const done = await resumeOnOne(nodes, opened.id);
    assert.equal(done.status, 'resolved');
    const minor = frozen.reduce((s, r) => s + r.discount_minor, 0);
    assert.deepEqual(done.resolved, { count: frozen.length, discount_minor: minor });
    assert.deepEqual((await one.incidents.get(opened.id)).resolved, done.resolved);
    const reversed = await rowsWith(one.store, [a, b], ['reversed']);
    assert.deepEqual(reversed.map((r) => r.id).sort(), frozen.map((r) => r.id).sort());
    await assertMovedOnce(one.store, frozen, [a, b], 'redemption.reversed', 'redemptions.reversed');
    let reversed_minor = 0;
    for (const id of [a, b]) {
      const c = await one.engine.getCampaign(id);
      assert.deepEqual([c.spent_minor, c.reserved_minor, c.frozen_minor, c.frozen_count], [0, 0, 0, 0]);
      reversed_minor += c.reversed_minor;
    }
    assert.equal(reversed_minor, minor);
    await assertInvariants(one.store);
  } finally {
    for (const n of nodes) await closeNode(n);
  }
}

/**
 * Honour crashes after its first batch; a second incident then freezes those honoured rows
 * again; the first is resumed. It must settle only its own pending members: the rows the second
 * incident froze stay frozen, and reversing the second gives exactly their money back.
 */
export async function honourCrashThenRefreeze(open: OpenStore): Promise<void> {
  const first = await openNode(open, t0 + 60_000);
  const { a } = await seedLeak(first);
  const who = { actor: 'key_admin' };
  const one = await first.incidents.open(leakInput([a], ['freeze_redemptions']), who);
  const frozen = await rowsWith(first.store, [a], ['frozen']);
  const dying = new Incidents(crashing(first.engine, { at: 'unfreeze', nth: 1, committed: true }));
  await assert.rejects(dying.resolve(one.id, 'honour', who), crash);
  const honoured = await rowsWith(first.store, [a], ['confirmed']);
  assert.equal(honoured.length, limits.incident_batch_ids_max, 'the first batch committed');
  const two = await first.incidents.open(leakInput([a], ['freeze_redemptions']), who);
  assertReport(two.report, honoured);
  await closeNode(first);

  const next = await openNode(open, afterLease(first));
  try {
    const [done] = await next.incidents.resumeStuck();
    assert.equal(done?.status, 'resolved');
    const minor = frozen.reduce((s, r) => s + r.discount_minor, 0);
    assert.deepEqual(done?.resolved, { count: frozen.length, discount_minor: minor }, 'each of its rows once');
    const still = await rowsWith(next.store, [a], ['frozen']);
    assert.deepEqual(
      still.map((r) => r.id).sort(),
      honoured.map((r) => r.id).sort(),
      'the second incident keeps what it froze',
    );
    await assertInvariants(next.store);
    const reversed = await next.incidents.resolve(two.id, 'reverse', who);
    const back = honoured.reduce((s, r) => s + r.discount_minor, 0);
    assert.deepEqual(reversed.resolved, { count: honoured.length, discount_minor: back });
    assert.equal((await next.engine.getCampaign(a)).reversed_minor, back);
    await assertInvariants(next.store);
  } finally {
    await closeNode(next);
  }
}

/**
 * A process stalls in the middle of opening (`at`: before its second freeze batch, or before
 * saving after its first) past its lease; another takes over and finishes. When the stalled one
 * wakes, its batch or its save is refused: nothing is applied twice, the store verifies.
 */
export async function stalledOpenerLosesTheWork(open: OpenStore, at: 'batch' | 'save'): Promise<void> {
  const first = await openNode(open, t0 + 60_000);
  const { a, b } = await seedLeak(first);
  const live = await rowsWith(first.store, [a, b], ['reserved', 'confirmed']);
  const hold = new Hold();
  const point: CrashPoint = { at: 'freeze', nth: 2, committed: false };
  const stalled = at === 'batch' ? crashing(first.engine, point, hold) : stallSaves(first.engine, hold);
  const outcome = new Incidents(stalled).open(leakInput([a, b]), { actor: 'key_admin' }).then(
    () => null,
    (e: unknown) => e,
  );
  await hold.reached;
  const second = await openNode(open, afterLease(first));
  try {
    const id = (await second.incidents.list({ limit: 1 })).data[0]?.id;
    const [done] = await second.incidents.resumeStuck();
    assert.ok(id);
    assert.equal(done?.id, id);
    hold.release();
    const err = await outcome;
    assert.ok(err instanceof Error, 'the stalled opener fails once it wakes');
    if (at === 'batch') assert.equal((err as { code?: string }).code, 'invalid_state');
    else assert.match(err.message, /no longer holds it/);
    const stored = await second.incidents.get(id);
    assert.equal(stored.status, 'open');
    assertReport(stored.report, live);
    await assertFrozenAndReleasedOnce(second.store, live, [a, b]);
    await assertInvariants(second.store);
  } finally {
    hold.release();
    await closeNode(second);
    await closeNode(first);
  }
}

/** Holds the first incident save after the first freeze batch (committed) until released. */
function stallSaves(engine: Engine, hold: Hold): Engine {
  let frozen = false;
  const store = new Proxy(engine.store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'updateIncident' && typeof value === 'function') {
        return async (...args: Parameters<Store['updateIncident']>) => {
          if (frozen) await hold.stall();
          return target.updateIncident(...args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'store') return store;
      if (prop === 'submitCommand') {
        return async <T>(campaign_id: string, cmd: Command) => {
          const value = await target.submitCommand<T>(campaign_id, cmd);
          if (cmd.type === 'freeze') frozen = true;
          return value;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
