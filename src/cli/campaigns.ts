import { Command } from 'commander';
import { availableMinor } from '../domain/campaign.ts';
import { maxExposureMinor } from '../domain/exposure.ts';
import type { CliContext } from './main.ts';
import { positiveInt } from './main.ts';

/** `vouchsafe campaigns list`: status, budget and worst-case exposure at a glance. */
export function campaignsCommand(ctx: CliContext): Command {
  const campaigns = new Command('campaigns').description('inspect campaigns');
  campaigns
    .command('list')
    .description('list campaigns, newest first')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--json', 'one JSON object per line')
    .action(async (o: { limit: number; json?: boolean }) => {
      const store = await ctx.openStore({ read_only: true });
      const page = await store.listCampaigns({ limit: Math.min(o.limit, 100) });
      await store.close();
      for (const c of page.data) {
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
      }
    });
  return campaigns;
}
