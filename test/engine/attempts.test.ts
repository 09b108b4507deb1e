import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { codeAlphabet, codeLength } from '../../src/domain/codes.ts';
import { Rejection } from '../../src/domain/errors.ts';
import { attemptLockout } from '../../src/domain/velocity.ts';
import { auditHash } from '../../src/engine/audit.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { looksGenerated } from '../../src/engine/code-resolver.ts';
import {
  type CounterKey,
  type CounterLimit,
  type Counters,
  CountersUnavailable,
  MemoryCounters,
} from '../../src/engine/counters.ts';
import type { RedeemInput } from '../../src/engine/engine.ts';
import { RedisCounters } from '../../src/engine/redis-counters.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order, rejects, spec, t0 } from '../support/fixtures.ts';
import { dead_redis_url } from '../support/redis.ts';

/**
 * Shared counters in the states a Redis can be in: up, down, answering reads but refusing
 * writes (out of memory, a read-only replica), or restarted empty. Real counting underneath.
 */
class SharedCounters implements Counters {
  readonly kind = 'redis' as const;
  state: 'up' | 'down' | 'read-only' = 'up';
  constructor(
    private readonly clock: ManualClock,
    private inner = new MemoryCounters(clock),
  ) {}
  restartEmpty(): void {
    this.inner = new MemoryCounters(this.clock);
  }
  private gate(write: boolean): void {
    if (this.state === 'down' || (write && this.state === 'read-only')) {
      throw new CountersUnavailable(`Redis counters unavailable: ${this.state}`);
    }
  }
  async get(keys: readonly CounterKey[]) {
    this.gate(false);
    return this.inner.get(keys);
  }
  async incr(keys: readonly CounterKey[]) {
    this.gate(true);
    return this.inner.incr(keys);
  }
  async take(keys: readonly CounterLimit[]) {
    this.gate(true);
    return this.inner.take(keys);
  }
  async giveBack(keys: readonly CounterKey[]) {
    this.gate(true);
    return this.inner.giveBack(keys);
  }
  async close() {}
}

const who = { actor: 'key_checkout' };
const { failures_max, ip_failures_max, window_ms } = attemptLockout;
let seq = 0;

/** A code with the generated shape whose check part is (almost surely) wrong: refused without a store read. */
function guess(): string {
  seq += 1;
  let s = '';
  for (let i = 0; i < codeLength; i++) s += codeAlphabet.charAt((seq * 7 + i * 13 + i * i) % 32);
  return s;
}

function input(code: string, over: Partial<RedeemInput> = {}): RedeemInput {
  return { user_id: 'u1', code, order: order({ id: `o${++seq}` }), device_id: null, ip: '203.0.113.7', ...over };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Rejection, String(e));
    return e.code;
  }
  return 'ok';
}

async function setup() {
  const h = await harness();
  const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 100, max_redemptions: null });
  const { codes } = await h.engine.generateCodes(c.id, 10, who);
  return { h, codes };
}

describe('code-guessing lockout', () => {
  test('guesses sent all at once: still exactly failures_max are looked up, the rest are too_many_attempts', async () => {
    const { h, codes } = await setup();
    const sent = 40;
    // Half wrong shared codes (each costs a store read), half generated-looking guesses; all in flight together.
    const answers = await Promise.all(
      Array.from({ length: sent }, (_, i) =>
        codeOf(h.engine.redeem(input(i % 2 === 0 ? guess() : `NO-SUCH-SHARED-${i}`), who)),
      ),
    );
    const tally = (code: string) => answers.filter((a) => a === code).length;
    assert.equal(tally('coupon_not_found'), failures_max, answers.join(','));
    assert.equal(tally('too_many_attempts'), sent - failures_max);
    // Locked out now, even for a correct code; another user on the same IP is not.
    assert.equal(await codeOf(h.engine.redeem(input(codes[0] ?? ''), who)), 'too_many_attempts');
    assert.equal(await codeOf(h.engine.redeem(input(codes[1] ?? '', { user_id: 'u2' }), who)), 'ok');
  });

  test('correct codes looked up together give their places back: a user with many valid codes is not locked', async () => {
    const { h, codes } = await setup();
    const answers = await Promise.all(codes.map((code) => codeOf(h.engine.redeem(input(code), who))));
    assert.deepEqual(
      answers,
      codes.map(() => 'ok'),
      'every one of more than failures_max valid codes at once is served',
    );
    // Once they are answered nothing is held: the next failures_max - 1 wrong guesses are still looked up.
    for (let i = 0; i < failures_max - 1; i++) {
      assert.equal(await codeOf(h.engine.redeem(input(guess()), who)), 'coupon_not_found');
    }
    await assertInvariants(h.store);
  });

  test('exactly failures_max wrong codes are looked up, then too_many_attempts even for a correct code', async () => {
    const { h, codes } = await setup();
    for (let i = 0; i < failures_max; i++) {
      const wrong = i % 2 === 0 ? guess() : 'NO-SUCH-SHARED-CODE';
      assert.equal(await codeOf(h.engine.redeem(input(wrong), who)), 'coupon_not_found', `guess ${i + 1}`);
    }
    const locked = h.engine.redeem(input(codes[0] ?? ''), who);
    await assert.rejects(locked, (e: unknown) => {
      assert.ok(e instanceof Rejection);
      assert.equal(e.code, 'too_many_attempts');
      assert.equal(e.retry_after_s, (window_ms - 60_000) / 1000, 'until the 15-minute window resets');
      return true;
    });
    // Another user on the same IP is not locked: the IP allows many more failures.
    const other = await h.engine.redeem(input(codes[1] ?? '', { user_id: 'u2' }), who);
    assert.equal(other.status, 'reserved');
    h.clock.advance(window_ms);
    assert.equal((await h.engine.redeem(input(codes[0] ?? ''), who)).status, 'reserved');
    await assertInvariants(h.store);
  });

  test("shared counters (Redis) unreachable: the lockout goes on with this node's own counts", async () => {
    const reported: Error[] = [];
    const counters = new RedisCounters({ url: dead_redis_url, onError: (e) => reported.push(e) });
    const h = await harness({ counters });
    after(() => h.engine.close());
    const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 100, max_redemptions: null });
    const { codes } = await h.engine.generateCodes(c.id, 2, who);
    const sent = 20;
    const answers = await Promise.all(Array.from({ length: sent }, () => codeOf(h.engine.redeem(input(guess()), who))));
    assert.equal(answers.filter((a) => a === 'coupon_not_found').length, failures_max, answers.join(','));
    assert.equal(answers.filter((a) => a === 'too_many_attempts').length, sent - failures_max);
    assert.equal(await codeOf(h.engine.redeem(input(codes[0] ?? ''), who)), 'too_many_attempts');
    assert.equal(await codeOf(h.engine.redeem(input(codes[1] ?? '', { user_id: 'u2' }), who)), 'ok');
    assert.ok(reported.length >= 1, 'the outage itself was reported');
    await assertInvariants(h.store);
  });

  test('failures counted before a Redis outage, or lost by it, or refused by a read-only Redis still lock out', async () => {
    const clock = new ManualClock(t0 + 60_000);
    const shared = new SharedCounters(clock);
    const h = await harness({ clock, counters: shared });
    const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 100, max_redemptions: null });
    const { codes } = await h.engine.generateCodes(c.id, 4, who);
    const wrongTimes = async (user_id: string, n: number) => {
      for (let i = 0; i < n; i++) {
        assert.equal(await codeOf(h.engine.redeem(input(guess(), { user_id }), who)), 'coupon_not_found');
      }
    };
    const good = (user_id: string, i: number) => codeOf(h.engine.redeem(input(codes[i] ?? '', { user_id }), who));
    // Counted while up, then Redis goes down: the count goes on.
    await wrongTimes('before-outage', failures_max - 2);
    shared.state = 'down';
    await wrongTimes('before-outage', 2);
    assert.equal(await good('before-outage', 0), 'too_many_attempts');
    // Locked while up, then Redis restarts empty: still locked.
    shared.state = 'up';
    await wrongTimes('before-restart', failures_max);
    shared.restartEmpty();
    assert.equal(await good('before-restart', 1), 'too_many_attempts');
    // Redis answers reads but refuses writes: its counts never grow, this node's do.
    shared.state = 'read-only';
    await wrongTimes('read-only', failures_max);
    assert.equal(await good('read-only', 2), 'too_many_attempts');
    shared.state = 'up';
    assert.equal(await good('never-failed', 3), 'ok');
    await assertInvariants(h.store);
  });

  test('a flood of guesses from many subjects at once: each stops at failures_max, at a cost linear in the guesses', async () => {
    // Counts the failure-count reads: every admission check and every retry of a waiting lookup makes one.
    const inner = new MemoryCounters(new ManualClock(t0 + 60_000));
    let reads = 0;
    let writes = 0;
    const counting: Counters = {
      kind: 'memory',
      // A round trip, as to a counter store: lookups then settle over many turns, not all in one.
      get: async (keys) => {
        reads++;
        await new Promise((r) => setImmediate(r));
        return inner.get(keys);
      },
      // Failures land over many turns (up to 40), so lookups settle at different times.
      incr: async (keys) => {
        for (let turns = writes++ % 40; turns > 0; turns--) await new Promise((r) => setImmediate(r));
        return inner.incr(keys);
      },
      take: (keys) => inner.take(keys),
      giveBack: (keys) => inner.giveBack(keys),
      close: () => inner.close(),
    };
    const h = await harness({ counters: counting, clock: new ManualClock(t0 + 60_000) });
    await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 100, max_redemptions: null });
    const subjects = 60;
    const each = 20;
    reads = 0;
    const answers = await Promise.all(
      Array.from({ length: subjects * each }, (_, i) => {
        const s = i % subjects;
        return codeOf(
          h.engine.redeem(input(guess(), { user_id: `flood-${s}`, ip: `198.18.${s >> 8}.${s & 255}` }), who),
        );
      }),
    );
    for (let s = 0; s < subjects; s++) {
      const mine = answers.filter((_, i) => i % subjects === s);
      assert.equal(
        mine.filter((a) => a === 'coupon_not_found').length,
        failures_max,
        `subject ${s}: ${mine.join(',')}`,
      );
      assert.equal(mine.filter((a) => a === 'too_many_attempts').length, each - failures_max);
    }
    // Waking every waiter on every settled lookup made this about 30,000 reads; per key it is about 4,200.
    assert.ok(reads <= 10 * subjects * each, `${reads} failure-count reads for ${subjects * each} guesses`);
  });

  test('validations count failures and are locked out too', async () => {
    const { h, codes } = await setup();
    for (let i = 0; i < failures_max; i++) {
      const v = await h.engine.validate(input(guess(), { user_id: 'v1' }));
      assert.equal(v.reason?.code, 'coupon_not_found');
    }
    assert.equal(await codeOf(h.engine.validate(input(codes[0] ?? '', { user_id: 'v1' }))), 'too_many_attempts');
    assert.equal(await codeOf(h.engine.redeem(input(codes[0] ?? '', { user_id: 'v1' }), who)), 'too_many_attempts');
    assert.equal((await h.engine.validate(input(codes[0] ?? '', { user_id: 'v2' }))).valid, true);
  });

  test('validations sent all at once: those past failures_max are refused with too_many_attempts, not answered', async () => {
    const { h } = await setup();
    const sent = 20;
    const answers = await Promise.all(
      Array.from({ length: sent }, async () => {
        try {
          const v = await h.engine.validate(input(guess(), { user_id: 'burst' }));
          return `answered ${v.reason?.code ?? 'valid'}`;
        } catch (e) {
          assert.ok(e instanceof Rejection, String(e));
          assert.ok((e.retry_after_s ?? 0) > 0, 'a lockout says when to retry');
          return `refused ${e.code}`;
        }
      }),
    );
    const tally = (a: string) => answers.filter((x) => x === a).length;
    assert.equal(tally('answered coupon_not_found'), failures_max, answers.join(','));
    // As a validation sent after the lockout is (429 with Retry-After), never a 200 whose reason is the lockout.
    assert.equal(tally('refused too_many_attempts'), sent - failures_max, answers.join(','));
  });

  test('one device is locked across users; an unknown coupon_id counts as a failure', async () => {
    const { h, codes } = await setup();
    for (let i = 0; i < failures_max; i++) {
      const ip = `198.51.100.${i}`;
      const failed = i === 0 ? { coupon_id: 'cpn_nope', code: undefined } : {};
      const attempt = input(guess(), { user_id: `d-user-${i}`, device_id: 'dev-1', ip, ...failed });
      if (i === 0) delete attempt.code;
      assert.equal(await codeOf(h.engine.redeem(attempt, who)), 'coupon_not_found');
    }
    const fresh = input(codes[0] ?? '', { user_id: 'new-user', device_id: 'dev-1', ip: '198.51.100.99' });
    assert.equal(await codeOf(h.engine.redeem(fresh, who)), 'too_many_attempts');
    assert.equal(await codeOf(h.engine.redeem({ ...fresh, device_id: 'dev-2' }, who)), 'ok');
  });

  test('the IP limit is higher: ip_failures_max failures from many users lock the IP', async () => {
    const { h, codes } = await setup();
    const ip = '192.0.2.44';
    for (let i = 0; i < ip_failures_max; i++) {
      const user_id = `nat-${Math.floor(i / failures_max)}`;
      assert.equal(await codeOf(h.engine.redeem(input(guess(), { user_id, ip }), who)), 'coupon_not_found');
      if (i === failures_max) {
        // Past one user's limit the IP still lets others in.
        assert.equal(await codeOf(h.engine.redeem(input(codes[0] ?? '', { user_id: 'nat-ok', ip }), who)), 'ok');
      }
    }
    assert.equal(
      await codeOf(h.engine.redeem(input(codes[1] ?? '', { user_id: 'late', ip }), who)),
      'too_many_attempts',
    );
    assert.equal(
      await codeOf(h.engine.redeem(input(codes[1] ?? '', { user_id: 'late', ip: '192.0.2.45' }), who)),
      'ok',
    );
  });

  test('IPv6: failures from many addresses of one /64 lock the /64, not another', async () => {
    const { h, codes } = await setup();
    for (let i = 0; i < ip_failures_max; i++) {
      // A new user and a new address for every guess: only the network ties them together.
      const ip = `2001:db8:77:1:${(i + 1).toString(16)}::9`;
      assert.equal(await codeOf(h.engine.redeem(input(guess(), { user_id: `v6-${i}`, ip }), who)), 'coupon_not_found');
    }
    const late = { user_id: 'late6', ip: '2001:db8:77:1:ffff::1' };
    assert.equal(await codeOf(h.engine.redeem(input(codes[1] ?? '', late), who)), 'too_many_attempts');
    const next = { user_id: 'late6', ip: '2001:db8:77:2::1' };
    assert.equal(await codeOf(h.engine.redeem(input(codes[1] ?? '', next), who)), 'ok');
  });

  test('correct codes never count, however many', async () => {
    const { h, codes } = await setup();
    for (const code of codes) assert.equal(await codeOf(h.engine.redeem(input(code), who)), 'ok');
    assert.equal(await codeOf(h.engine.redeem(input(codes[0] ?? ''), who)), 'coupon_already_redeemed');
    assert.equal(await codeOf(h.engine.redeem(input(guess()), who)), 'coupon_not_found');
  });
});

/** As a CJK input method in full-width mode types it: every ASCII character as its full-width form. */
function fullWidth(s: string): string {
  return s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
}

describe('codes typed in full-width forms or with Unicode dashes', () => {
  test('are the codes they spell: they redeem, and never count toward the lockout', async () => {
    const { h, codes } = await setup();
    const shared = await activeCampaign(h, { code_mode: 'shared_code', code: 'spring', per_user_limit: null });
    const typed = codes.slice(0, failures_max + 1).map((code, i) => {
      const grouped = code.match(/.{4}/g)?.join(i % 2 === 0 ? '\u2013' : '-') ?? code;
      return i % 2 === 0 ? grouped : fullWidth(grouped.toLowerCase());
    });
    for (const code of typed) assert.equal(await codeOf(h.engine.redeem(input(code), who)), 'ok', code);
    const validated = await h.engine.validate(input(fullWidth(' Spring ')));
    assert.equal(validated.reason, null);
    const redeemed = await h.engine.redeem(input(`\u3000${fullWidth('SPRING')}`), who);
    assert.equal(redeemed.campaign_id, shared.id);
    assert.equal(await codeOf(h.engine.redeem(input(guess()), who)), 'coupon_not_found', 'no failure was counted');
    await assertInvariants(h.store);
  });

  test('a shared code is stored as its ASCII form, and taken once whichever form is sent', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: fullWidth('Summer') });
    assert.equal(c.code, 'SUMMER');
    await rejects(h.engine.createCampaign(spec({ code_mode: 'shared_code', code: 'summer' }), who), 'invalid_request');
    const looks = fullWidth(codeAlphabet.slice(0, codeLength));
    await rejects(h.engine.createCampaign(spec({ code_mode: 'shared_code', code: looks }), who), 'invalid_request');
  });
});

type ChainRow = Parameters<typeof auditHash>[0] & { seq: number };

/** Edits the data of every entry of one audit chain and links them again; returns the new head hash. */
function rewriteChain(db: Database.Database, chain: string, edit: (data_json: string) => string): string {
  const rows = db
    .prepare(
      'SELECT seq, chain, chain_seq, at_ms, actor, action, subject, data AS data_json, prev_hash FROM audit WHERE chain = ? ORDER BY chain_seq',
    )
    .all(chain) as ChainRow[];
  const set = db.prepare('UPDATE audit SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?');
  let prev = '0'.repeat(64);
  for (const r of rows) {
    const entry = { ...r, data_json: edit(r.data_json), prev_hash: prev };
    prev = auditHash(entry);
    set.run(entry.data_json, entry.prev_hash, prev, r.seq);
  }
  return prev;
}

type Harness = Awaited<ReturnType<typeof harness>>;

/**
 * A shared-code campaign whose code an older server stored as `stored` (its coupon, campaign row,
 * document and creation entry, the chain rewritten so verify agrees), the store reopened; `body`
 * gets an engine on it and the campaign's id.
 */
async function withStoredSharedCode(stored: string, body: (h: Harness, campaign_id: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'vs-stored-code-'));
  const path = join(dir, 'v.db');
  try {
    const store = new SqliteStore({ path });
    const h = await harness({}, store);
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'PLACEHOLDER', per_user_limit: 100 });
    await h.engine.close();
    await store.close();
    const db = new Database(path);
    db.prepare('UPDATE coupons SET code = ? WHERE code = ?').run(stored, 'PLACEHOLDER');
    const head = rewriteChain(db, c.id, (data) => data.replaceAll('PLACEHOLDER', stored));
    const row = db.prepare('SELECT doc FROM campaigns WHERE id = ?').get(c.id) as { doc: string };
    db.prepare('UPDATE campaigns SET code = ?, doc = ? WHERE id = ?').run(
      stored,
      JSON.stringify({ ...JSON.parse(row.doc), code: stored, audit_head: head }),
      c.id,
    );
    db.close();
    const again = new SqliteStore({ path });
    const h2 = await harness({}, again);
    try {
      await body(h2, c.id);
      await assertInvariants(again);
    } finally {
      await h2.engine.close();
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('shared codes stored before full-width forms were folded', () => {
  test('a code stored in full-width form still redeems, sent as it was stored or as its ASCII', async () => {
    // As an older server stored what its creator typed: upper-cased, not folded.
    const stored = fullWidth('WINTER');
    await withStoredSharedCode(stored, async (h2, campaign_id) => {
      for (const sent of [fullWidth('winter'), stored, ' winter ']) {
        assert.equal((await h2.engine.redeem(input(sent), who)).campaign_id, campaign_id, sent);
      }
      assert.equal(await codeOf(h2.engine.redeem(input(fullWidth('SUMMER')), who)), 'coupon_not_found');
      // Sent back with a change (as a form does), its code is no change.
      const updated = await h2.engine.updateCampaign(campaign_id, { code: fullWidth('winter'), name: 'w' }, who);
      assert.equal(updated.code, stored);
      // Its ASCII spelling names it, so no new campaign can take that spelling.
      await rejects(
        h2.engine.createCampaign(spec({ code_mode: 'shared_code', code: 'Winter' }), who),
        'invalid_request',
      );
    });
  });
});

describe('shared codes from before issued codes had 20 symbols', () => {
  test('a stored 20-symbol shared code that looks generated still redeems, and locks nobody out', async () => {
    // As an older server could have stored it: creation refuses this shape now.
    const legacy = 'HAPPYNEWYEAR2025SAVE';
    assert.equal(looksGenerated(legacy), true);
    await withStoredSharedCode(legacy, async (h2) => {
      for (let i = 0; i < failures_max + 2; i++) {
        assert.equal(await codeOf(h2.engine.redeem(input(legacy.toLowerCase()), who)), 'ok', `redemption ${i + 1}`);
      }
      // A 20-symbol guess that is not a stored shared code is still refused by its check part.
      assert.equal(await codeOf(h2.engine.redeem(input(`${guess()}ABCD`), who)), 'coupon_not_found');
    });
  });
});
