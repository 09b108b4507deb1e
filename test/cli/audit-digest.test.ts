import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { readDigest } from '../../src/cli/audit.ts';
import { auditHash } from '../../src/engine/audit.ts';
import { type AuditDigest, digestDefect, makeDigest } from '../../src/engine/audit-digest.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';
import { runCli } from '../support/node-process.ts';
import { copyTestDatabase, createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

/**
 * The audit chains are hash-linked but not keyed: whoever can write the database can delete a
 * campaign with its whole chain, or rewrite a chain and hash it again, and every chain still
 * verifies (each case below first shows that). A digest taken earlier (`vouchsafe audit digest`,
 * GET /v1/audit/digest) and kept elsewhere catches both: `verify --digest` must fail, naming the
 * chain. Each case edits a copy of one store built through the engine.
 */

const who = { actor: 'key_checkout' };

interface Built {
  victim: string;
  keeper: string;
  digest: AuditDigest;
}

/** Two campaigns with a claim and a confirmed redemption each, an API key on the platform chain; the digest; then more work. */
async function build(store: Store): Promise<Built> {
  const h = await harness({}, store);
  const campaigns: string[] = [];
  for (const user of ['victim_user', 'keeper_user']) {
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: user }, who);
    await h.engine.redeem({ user_id: user, code: coupon.code, order: order(), confirm: true }, who);
    campaigns.push(c.id);
  }
  await createApiKey(store, h.engine.ids, h.clock.now(), { name: 'ops', scopes: ['read'], actor: 'key_admin' });
  const digest = makeDigest(await store.auditHeads(), h.clock.now());
  // After the digest every chain moves on, and a campaign is begun: none of that is a finding.
  const [victim, keeper] = campaigns;
  assert.ok(victim && keeper);
  for (const id of campaigns) await h.engine.claim({ campaign_id: id, user_id: 'later_user' }, who);
  await activeCampaign(h);
  await createApiKey(store, h.engine.ids, h.clock.now(), { name: 'ops2', scopes: ['read'], actor: 'key_admin' });
  await assertInvariants(store);
  await h.engine.close();
  await store.close();
  return { victim, keeper, digest };
}

/** A store's own SQL for the edits that differ: the campaign doc's head, the audit data column. */
interface Dialect {
  setCampaignHead(id: string, hash: string): string;
}

const sqlite: Dialect = {
  setCampaignHead: (id, hash) =>
    `UPDATE campaigns SET doc = json_set(doc, '$.audit_head', '${hash}') WHERE id = '${id}'`,
};
const postgres: Dialect = {
  setCampaignHead: (id, hash) =>
    `UPDATE campaigns SET doc = jsonb_set(doc::jsonb, '{audit_head}', '"${hash}"')::text WHERE id = '${id}'`,
};

/** Deletes a campaign and everything of it, its chain too: nothing else points at it. */
function deleteWhole(id: string): string[] {
  return [
    `DELETE FROM redemptions WHERE campaign_id = '${id}'`,
    `DELETE FROM coupons WHERE campaign_id = '${id}'`,
    `DELETE FROM usage WHERE campaign_id = '${id}'`,
    `DELETE FROM audit WHERE chain = '${id}'`,
    `DELETE FROM campaigns WHERE id = '${id}'`,
  ];
}

/**
 * Moves the first entry of `chain` a millisecond later and hashes the whole chain again, head
 * included: the chain verifies, but every link now hashes differently.
 */
async function rehash(store: Store, chain: string, d: Dialect): Promise<string[]> {
  const list = await store.auditChain(chain);
  assert.ok(list.length >= 2, `chain ${chain} has ${list.length} entries`);
  const sql: string[] = [];
  let prev = list[0]?.prev_hash ?? '';
  for (const [i, e] of list.entries()) {
    const at_ms = i === 0 ? e.at_ms + 1 : e.at_ms;
    const hash = auditHash({ ...e, at_ms, prev_hash: prev });
    sql.push(`UPDATE audit SET at_ms = ${at_ms}, prev_hash = '${prev}', hash = '${hash}' WHERE seq = ${e.seq}`);
    prev = hash;
  }
  sql.push(
    chain === 'platform'
      ? `UPDATE audit_heads SET hash = '${prev}' WHERE chain = 'platform'`
      : d.setCampaignHead(chain, prev),
  );
  return sql;
}

const head = (b: Built, chain: string) => b.digest.heads.find((x) => x.chain === chain)?.chain_seq;

/** Lines as the CLI prints them. */
function lines(report: Awaited<ReturnType<typeof verifyStore>>): string[] {
  return report.violations.map((v) => `invariant ${v.invariant} ${v.campaign_id ?? 'platform'}: ${v.detail}`);
}

/** Verifies without the digest (must pass: the edit is invisible to the chains alone), then with it (must say `says`). */
async function assertOnlyTheDigestCatches(store: Store, digest: AuditDigest, says: string): Promise<void> {
  const plain = await store.readSnapshot(() => verifyStore(store));
  assert.deepEqual(lines(plain), [], 'without the digest the edit must pass (else this case proves nothing)');
  const held = await store.readSnapshot(() => verifyStore(store, undefined, { digest }));
  assert.equal(held.ok, false);
  assert.equal(held.audit.ok, false);
  assert.ok(
    lines(held).some((l) => l.includes(says)),
    `verify must say "${says}":\n${lines(held).join('\n')}`,
  );
}

const root = mkdtempSync(join(tmpdir(), 'vs-audit-digest-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('audit digest: SQLite, vouchsafe audit digest and verify --digest', () => {
  const baseline = join(root, 'baseline');
  let b: Built;
  let digestFile: string;

  before(async () => {
    b = await build(new SqliteStore({ path: join(baseline, 'vouchsafe.db') }));
    digestFile = join(root, 'digest.json');
    writeFileSync(digestFile, JSON.stringify(b.digest));
  });

  /** A copy of the baseline with `edit` run on it (the statements, or built from the copy's store). */
  async function tampered(name: string, edit: (store: Store) => Promise<string[]> | string[]): Promise<string> {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const src = join(baseline, 'vouchsafe.db');
    copyFileSync(src, join(dir, 'vouchsafe.db'));
    if (existsSync(`${src}-wal`)) copyFileSync(`${src}-wal`, join(dir, 'vouchsafe.db-wal'));
    const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    const sql = await edit(store);
    await store.close();
    const db = new Database(join(dir, 'vouchsafe.db'));
    for (const s of sql) assert.ok(db.prepare(s).run().changes >= 1, s);
    db.close();
    return dir;
  }

  test('an untouched store holds every link of the digest, through the CLI', async () => {
    const dir = await tampered('clean', () => []);
    const cli = await runCli(['verify', '--data-dir', dir, '--digest', digestFile, '--expect', b.digest.digest], {});
    assert.equal(cli.code, 0, cli.out);
    assert.match(cli.out, /^OK: 3 campaigns, /);
    assert.ok(
      cli.out.includes(
        `audit digest ${b.digest.digest} of ${b.digest.created_at}, as expected (3 chains): every chain holds its link`,
      ),
      cli.out,
    );
    const json = await runCli(['verify', '--data-dir', dir, '--digest', digestFile, '--json'], {});
    assert.equal(json.code, 0, json.out);
    const report = JSON.parse(json.out) as { ok: boolean; digest: unknown };
    assert.equal(report.ok, true);
    assert.deepEqual(report.digest, {
      digest: b.digest.digest,
      created_at: b.digest.created_at,
      chains: 3,
      expected: false,
    });
  });

  test('a digest file forged to match a tampered store is refused against the value kept; without it, verify says it compared nothing', async () => {
    // The victim deleted with its chain, and a new "digest" made of the heads left: sound in itself.
    const dir = await tampered('forged', () => deleteWhole(b.victim));
    const forged = makeDigest(
      b.digest.heads.filter((h) => h.chain !== b.victim),
      Date.parse(b.digest.created_at),
    );
    assert.equal(digestDefect(forged), null);
    const file = join(root, 'forged.json');
    writeFileSync(file, JSON.stringify(forged));
    const refused = await runCli(['verify', '--data-dir', dir, '--digest', file, '--expect', b.digest.digest], {});
    assert.equal(refused.code, 2, refused.out);
    assert.ok(
      refused.out.includes(`the digest ${file} carries ${forged.digest}, not the ${b.digest.digest} you kept`),
      refused.out,
    );
    assert.ok(!refused.out.includes('OK:'), refused.out);
    const unchecked = await runCli(['verify', '--data-dir', dir, '--digest', file], {});
    assert.equal(unchecked.code, 0, unchecked.out);
    assert.ok(unchecked.out.includes('(not compared with a kept value: pass it with --expect)'), unchecked.out);
    // The date is part of what is hashed: an older genuine digest cannot be passed off as a newer one.
    assert.notEqual(makeDigest(b.digest.heads, Date.parse(b.digest.created_at) + 1).digest, b.digest.digest);
    const alone = await runCli(['verify', '--data-dir', dir, '--expect', b.digest.digest], {});
    assert.equal(alone.code, 2, alone.out);
    assert.match(alone.out, /--expect needs the digest file it names/);
  });

  test('vouchsafe audit digest writes the heads as the store reads them, and never over an earlier file', async () => {
    const dir = await tampered('cli-digest', () => []);
    const out = join(root, 'cli-digest.json');
    const cli = await runCli(['audit', 'digest', '--data-dir', dir, '--out', out], {});
    assert.equal(cli.code, 0, cli.out);
    const written = readDigest(out);
    const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    try {
      assert.deepEqual(written.heads, makeDigest(await store.auditHeads(), 0).heads);
    } finally {
      await store.close();
    }
    assert.equal(written.chains, 4);
    assert.ok(cli.out.includes(`digest ${written.digest} of 4 chains written to ${out}; keep this value`), cli.out);
    const again = await runCli(['audit', 'digest', '--data-dir', dir, '--out', out], {});
    assert.equal(again.code, 1, again.out);
    assert.ok(again.out.includes(`${out} already exists: a digest is never written over another`), again.out);
    assert.deepEqual(
      readdirSync(root).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file left behind',
    );
    assert.deepEqual(readDigest(out), written);
  });

  test('caught: a campaign deleted with its whole chain', async () => {
    const dir = await tampered('deleted', () => deleteWhole(b.victim));
    const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    try {
      await assertOnlyTheDigestCatches(
        store,
        b.digest,
        `audit chain ${b.victim} is gone, but the digest holds its link ${head(b, b.victim)}`,
      );
    } finally {
      await store.close();
    }
  });

  test("caught: a campaign's chain rewritten and hashed again, through the CLI", async () => {
    const dir = await tampered('rehashed', (store) => rehash(store, b.victim, sqlite));
    const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    try {
      await assertOnlyTheDigestCatches(
        store,
        b.digest,
        `audit chain ${b.victim} differs from the digest at link ${head(b, b.victim)}`,
      );
    } finally {
      await store.close();
    }
    const cli = await runCli(['verify', '--data-dir', dir, '--digest', digestFile], {});
    assert.equal(cli.code, 1, cli.out);
    assert.ok(cli.out.includes(`invariant 7 ${b.victim}: audit chain ${b.victim} differs from the digest`), cli.out);
    assert.ok(cli.out.includes('see invariant 7'), cli.out);
  });

  test('caught: the platform chain rewritten and hashed again', async () => {
    const dir = await tampered('platform', (store) => rehash(store, 'platform', sqlite));
    const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    try {
      await assertOnlyTheDigestCatches(
        store,
        b.digest,
        `audit chain platform differs from the digest at link ${head(b, 'platform')}`,
      );
    } finally {
      await store.close();
    }
  });

  test('a digest file that was edited, is not one, or is not JSON is refused before anything is checked', async () => {
    const forged = structuredClone(b.digest);
    const first = forged.heads[0];
    assert.ok(first);
    first.hash = 'f'.repeat(64);
    const edited = join(root, 'edited.json');
    writeFileSync(edited, JSON.stringify(forged));
    const cli = await runCli(['verify', '--data-dir', baseline, '--digest', edited], {});
    assert.equal(cli.code, 2, cli.out);
    assert.ok(
      cli.out.includes(`the digest ${edited} cannot be trusted: its date and heads do not hash to its digest`),
      cli.out,
    );
    writeFileSync(edited, JSON.stringify({ ...b.digest, created_at: new Date().toISOString() }));
    assert.throws(() => readDigest(edited), /its date and heads do not hash to its digest/);
    assert.ok(!cli.out.includes('OK:'), cli.out);

    const twice = { ...b.digest, heads: [...b.digest.heads, b.digest.heads[0]], chains: b.digest.chains + 1 };
    writeFileSync(edited, JSON.stringify(twice));
    assert.throws(() => readDigest(edited), /cannot be trusted: it names a chain twice/);
    writeFileSync(edited, JSON.stringify({ ...b.digest, chains: 9 }));
    assert.throws(() => readDigest(edited), /cannot be trusted: it says 9 chains but lists 3/);
    writeFileSync(edited, JSON.stringify({ ...b.digest, heads: [{ chain: 'platform', chain_seq: 0, hash: 'x' }] }));
    assert.throws(() => readDigest(edited), /is not an audit digest: \/heads\/0\/chain_seq/);
    // A chain name is an id: one with a space or a line break could make two sets of heads hash alike.
    const spaced = { ...b.digest, heads: [{ ...b.digest.heads[0], chain: 'cmp_a 1\nplatform' }] };
    writeFileSync(edited, JSON.stringify(spaced));
    assert.throws(() => readDigest(edited), /is not an audit digest: \/heads\/0\/chain/);
    writeFileSync(edited, '{"object": "audit_digest", ');
    assert.throws(() => readDigest(edited), /cannot read the digest .*JSON/);
    assert.throws(() => readDigest(join(root, 'missing.json')), /cannot read the digest .*ENOENT/);
    assert.deepEqual(JSON.parse(readFileSync(digestFile, 'utf8')), b.digest);
  });
});

const db = await createTestDatabase();
after(() => db?.drop());

describe('audit digest: PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const base = db;
  let b: Built;

  before(async () => {
    const store = new PostgresStore({ url: base.url });
    await store.migrate();
    b = await build(store);
  });

  async function onCopy(edit: (store: Store) => Promise<string[]> | string[], says: string | null): Promise<void> {
    const copy = await copyTestDatabase(base);
    try {
      const store = new PostgresStore({ url: copy.url });
      try {
        const sql = await edit(store);
        const client = new pg.Client({ connectionString: copy.url });
        await client.connect();
        try {
          for (const s of sql) assert.ok(((await client.query(s)).rowCount ?? 0) >= 1, s);
        } finally {
          await client.end();
        }
        if (says === null) {
          const report = await store.readSnapshot(() => verifyStore(store, undefined, { digest: b.digest }));
          assert.deepEqual(lines(report), []);
        } else await assertOnlyTheDigestCatches(store, b.digest, says);
      } finally {
        await store.close();
      }
    } finally {
      await copy.drop();
    }
  }

  test('an untouched store holds every link of the digest', async () => {
    assert.deepEqual(
      b.digest.heads.map((x) => x.chain),
      [b.victim, b.keeper, 'platform'].sort(),
    );
    await onCopy(() => [], null);
  });

  test('caught: a campaign deleted with its whole chain', async () => {
    await onCopy(
      () => deleteWhole(b.victim),
      `audit chain ${b.victim} is gone, but the digest holds its link ${head(b, b.victim)}`,
    );
  });

  test("caught: a campaign's chain rewritten and hashed again", async () => {
    await onCopy(
      (store) => rehash(store, b.victim, postgres),
      `audit chain ${b.victim} differs from the digest at link ${head(b, b.victim)}`,
    );
  });

  test('caught: the platform chain rewritten and hashed again', async () => {
    await onCopy(
      (store) => rehash(store, 'platform', postgres),
      `audit chain platform differs from the digest at link ${head(b, 'platform')}`,
    );
  });
});
