import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import type { AuditDigest } from '../engine/audit-digest.ts';
import { verifyStore } from '../engine/verify.ts';
import { readDigest } from './audit.ts';
import type { CliContext } from './main.ts';
import { dataDirOption } from './store-options.ts';

interface VerifyOptions {
  databaseUrl?: string;
  dataDir?: string;
  digest?: string;
  expect?: string;
  json?: boolean;
}

/**
 * The digest to hold the store to: the file, sound (readDigest), carrying the value kept outside
 * the database when one is given. Without --expect a forged file, its digest recomputed, would pass.
 */
function trustedDigest(o: VerifyOptions): AuditDigest | undefined {
  if (o.digest === undefined) {
    if (o.expect !== undefined) throw new Error('--expect needs the digest file it names (--digest <file>)');
    return undefined;
  }
  const digest = readDigest(o.digest);
  if (o.expect !== undefined && o.expect.trim().toLowerCase() !== digest.digest) {
    throw new Error(
      `the digest ${o.digest} carries ${digest.digest}, not the ${o.expect.trim()} you kept: it is another digest (forged, or one from another time)`,
    );
  }
  return digest;
}

/** `vouchsafe verify`: every money invariant, every coupon row and every audit chain; exit 1 on any violation, 2 on a digest that cannot be trusted. */
export function verifyCommand(ctx: CliContext): Command {
  return new Command('verify')
    .description('check every money invariant, the coupon rows and the audit chains of a data dir or database')
    .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
    .addOption(dataDirOption())
    .option(
      '--digest <file>',
      'also check that every audit chain still holds the link this digest recorded (vouchsafe audit digest)',
    )
    .option('--expect <hex>', "the digest's 64-hex value as you kept it outside the database; the file must carry it")
    .option('--json', 'print the report as JSON')
    .action(async (o: VerifyOptions) => {
      // Read first: a digest that cannot be trusted ends the run (exit 2) before the store is opened.
      let digest: AuditDigest | undefined;
      try {
        digest = trustedDigest(o);
      } catch (err) {
        process.stderr.write(`vouchsafe: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
        return;
      }
      const store = await ctx.openStore({
        read_only: true,
        ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
        ...(o.dataDir ? { data_dir: o.dataDir } : {}),
      });
      const bar =
        process.stderr.isTTY && !o.json ? new SingleBar({ format: 'verify [{bar}] {value}/{total} campaigns' }) : null;
      let started = false;
      // One snapshot: a live server's batches committing meanwhile must not look like violations.
      const report = await store.readSnapshot(() =>
        verifyStore(
          store,
          (done, total) => {
            if (bar && !started) {
              bar.start(total, 0);
              started = true;
            }
            bar?.update(done);
          },
          { now_ms: Date.now(), ...(digest ? { digest } : {}) },
        ),
      );
      bar?.stop();
      await store.close();
      const held = digest && {
        digest: digest.digest,
        created_at: digest.created_at,
        chains: digest.chains,
        expected: o.expect !== undefined,
      };
      if (o.json) process.stdout.write(`${JSON.stringify(held ? { ...report, digest: held } : report)}\n`);
      else {
        process.stdout.write(
          `${report.ok ? 'OK' : 'VIOLATIONS'}: ${report.campaigns} campaigns, ${report.coupons} coupons, ${report.redemptions} redemptions, ${report.audit.entries} audit entries in ${report.audit.chains} chains\n`,
        );
        if (digest) {
          const kept =
            o.expect === undefined ? ' (not compared with a kept value: pass it with --expect)' : ', as expected';
          process.stdout.write(
            `audit digest ${digest.digest} of ${digest.created_at}${kept} (${digest.chains} chain${digest.chains === 1 ? '' : 's'}): ${report.audit.ok ? 'every chain holds its link' : 'see invariant 7'}\n`,
          );
        }
        for (const v of report.violations) {
          process.stdout.write(`  invariant ${v.invariant} ${v.campaign_id ?? 'platform'}: ${v.detail}\n`);
        }
      }
      process.exitCode = report.ok ? 0 : 1;
    });
}
