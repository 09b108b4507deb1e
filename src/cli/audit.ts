import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { Command } from 'commander';
import { type AuditDigest, digestDefect, makeDigest } from '../engine/audit-digest.ts';
import { writeNew } from '../http/audit-digests.ts';
import { AuditDigestView } from '../http/event-schemas.ts';
import type { CliContext } from './main.ts';
import { dataDirOption } from './store-options.ts';

/** `vouchsafe audit digest`: the head of every audit chain and one sha256 over them, to keep outside the database. */
export function auditCommand(ctx: CliContext): Command {
  const audit = new Command('audit').description('the hash-chained audit log');
  audit
    .command('digest')
    .description(
      'record the head of every audit chain (JSON); keep its digest outside the database and check against it later with verify --digest',
    )
    .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
    .addOption(dataDirOption())
    .option('--out <file>', 'write the digest to this file instead of stdout')
    .action(async (o: { databaseUrl?: string; dataDir?: string; out?: string }) => {
      const store = await ctx.openStore({
        read_only: true,
        ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
        ...(o.dataDir ? { data_dir: o.dataDir } : {}),
      });
      const digest = makeDigest(await store.auditHeads(), Date.now());
      await store.close();
      const text = `${JSON.stringify(digest, null, 2)}\n`;
      if (o.out) {
        writeNew(o.out, text);
        process.stdout.write(
          `digest ${digest.digest} of ${digest.chains} chain${digest.chains === 1 ? '' : 's'} written to ${o.out}; keep this value outside the database and pass it to verify --expect\n`,
        );
      } else process.stdout.write(text);
    });
  return audit;
}

/** A digest file (from `audit digest` or GET /v1/audit/digest), checked for shape and for edits; throws a plain message otherwise. */
export function readDigest(path: string): AuditDigest {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the digest ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Value.Check(AuditDigestView, doc)) {
    const first = Value.Errors(AuditDigestView, doc).First();
    throw new Error(
      `${path} is not an audit digest: ${first ? `${first.path || '/'} ${first.message}` : 'wrong shape'}`,
    );
  }
  const defect = digestDefect(doc);
  if (defect) throw new Error(`the digest ${path} cannot be trusted: ${defect}`);
  return doc;
}
