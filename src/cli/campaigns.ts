import { Command } from 'commander';
import { limits } from '../config/limits.ts';
import { availableMinor, type Campaign } from '../domain/campaign.ts';
import { maxExposureMinor } from '../domain/exposure.ts';
import { allRows } from '../store/all-rows.ts';
import type { CliContext } from './main.ts';
import { positiveInt } from './main.ts';

/** `vouchsafe campaigns list`: status, budget and worst-case exposure at a glance. */
export function campaignsCommand(ctx: CliContext): Command {
  const campaigns = new Command('campaigns').description('inspect campaigns');
  campaigns
    .command('list')
    .description('list campaigns, newest first')
    .option('--limit <n>', 'how many, newest first (when more exist, a line on stderr says so)', positiveInt, 20)
    .option('--json', 'one JSON object per line')
    .action(async (o: { limit: number; json?: boolean }) => {
      const print = (c: Campaign) => {
        const row = {
          id: c.id,
          name: c.name,
          status: c.status,
          currency: c.currency,
          budget_minor: c.budget_minor,
          spent_minor: c.spent_minor,
          reserved_minor: c.reserved_minor,
          available_minor: availableMinor(c),
          max_exposure_minor: maxExposureMinor(c),
          lint: c.lint.map((f) => `${f.severity}:${f.rule}`),
        };
        if (o.json) process.stdout.write(`${JSON.stringify(row)}\n`);
        else
          process.stdout.write(
            `${row.id}\t${row.status}\t${row.name}\tspent ${row.spent_minor}/${row.budget_minor} ${row.currency}\tmax exposure ${row.max_exposure_minor}\t${row.lint.join(' ')}\n`,
          );
      };
      const store = await ctx.openStore({ read_only: true });
      let shown = 0;
      let more = false;
      try {
        // Page on past one store page (list_limit_max), so --limit 500 shows 500, not 100.
        for await (const c of allRows((q) => store.listCampaigns(q), Math.min(o.limit, limits.list_limit_max))) {
          if (shown === o.limit) {
            more = true;
            break;
          }
          print(c);
          shown += 1;
        }
      } finally {
        await store.close();
      }
      // On stderr, so a script reading stdout gets rows only; a person is told the list is not all.
      if (more) process.stderr.write(`vouchsafe: the newest ${shown} campaigns shown; there are more (--limit)\n`);
    });
  return campaigns;
}
