import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { verifyStore } from '../engine/verify.ts';
import { readDigest } from './audit.ts';
import type { CliContext } from './main.ts';

/** `vouchsafe verify`: every money invariant, every coupon row and every audit chain; exit 1 on any violation. */
export function verifyCommand(ctx: CliContext): Command {
  return new Command('verify')
    .description('check every money invariant, the coupon rows and the audit chains of a data dir or database')
    .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
    .option('--data-dir <dir>', 'SQLite data dir (default: VOUCHSAFE_DATA_DIR or ./data)')
    .option(
      '--digest <file>',
      'also check that every audit chain still holds the link this digest recorded (vouchsafe audit digest)',
    )
    .option('--json', 'print the report as JSON')
    .action(async (o: { databaseUrl?: string; dataDir?: string; digest?: string; json?: boolean }) => {
      // Read first: a digest that cannot be trusted ends the run before the store is opened.
      const digest = o.digest === undefined ? undefined : readDigest(o.digest);
      const store = await ctx.openStore({
        existing: true,
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
      if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else {
        process.stdout.write(
          `${report.ok ? 'OK' : 'VIOLATIONS'}: ${report.campaigns} campaigns, ${report.coupons} coupons, ${report.redemptions} redemptions, ${report.audit.entries} audit entries in ${report.audit.chains} chains\n`,
        );
        if (digest) {
          process.stdout.write(
            `audit digest ${digest.digest} of ${digest.created_at} (${digest.chains} chains): ${report.audit.ok ? 'every chain holds its link' : 'see invariant 7'}\n`,
          );
        }
        for (const v of report.violations) {
          process.stdout.write(`  invariant ${v.invariant} ${v.campaign_id ?? 'platform'}: ${v.detail}\n`);
        }
      }
      process.exitCode = report.ok ? 0 : 1;
    });
}
