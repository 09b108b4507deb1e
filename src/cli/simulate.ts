import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { positiveInt } from './main.ts';
import { bruteForceCommand } from './simulate/brute-force-command.ts';
import { flashSaleCommand } from './simulate/flash-sale-command.ts';
import { type RunResult, runPinduoduo } from './simulate/pinduoduo.ts';
import { bar, yuan } from './simulate/progress.ts';
import { lossHtml } from './simulate/report-html.ts';

/** `vouchsafe simulate pinduoduo | brute-force | flash-sale`: each on a real engine over a fresh store. */
export function simulateCommand(): Command {
  const simulate = new Command('simulate').description('replay incidents against a real engine on a fresh store');
  simulate
    .command('pinduoduo')
    .description('the January 2019 leaked 100-yuan coupon, naive vs guarded')
    .option('--attack <n>', 'attack redemptions', positiveInt, 500_000)
    .option('--rate <n>', 'attack redemptions per simulated second', positiveInt, 500)
    .option('--json', 'print one JSON line')
    .option('--html <file>', 'write an HTML report with loss over time')
    .action(async (o: { attack: number; rate: number; json?: boolean; html?: string }) => {
      const base = { attack_redemptions: o.attack, attack_per_s: o.rate, one_shop_share: 0.86 };
      const runs: Record<string, RunResult> = {};
      for (const mode of ['naive', 'as_2019', 'guarded'] as const) {
        const b = bar(mode, 'attack redemptions', Boolean(o.json));
        runs[mode] = await runPinduoduo(mode, { ...base, ...b.opts });
        b.stop();
      }
      const naive = runs.naive as RunResult;
      const guarded = runs.guarded as RunResult;
      const as2019 = runs.as_2019 as RunResult;
      const summary = {
        scenario: 'pinduoduo',
        attack_redemptions: o.attack,
        naive: { loss_minor: naive.loss_minor, redemptions: naive.redemptions },
        guarded: {
          loss_minor: guarded.loss_minor,
          redemptions: guarded.redemptions,
          detected_after_redemptions: guarded.detected_after_redemptions,
          detected_after_ms: guarded.detected_after_ms,
          frozen_minor: guarded.frozen_minor,
          reversed_minor: guarded.reversed_minor,
        },
        guarded_as_configured_in_2019: {
          loss_minor: as2019.loss_minor,
          redemptions: as2019.redemptions,
          refused: as2019.refused,
        },
        invariants_ok: naive.invariants_ok && guarded.invariants_ok && as2019.invariants_ok,
      };
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        const rows = [
          ['run', 'attack redemptions accepted', 'loss', 'detected after', 'frozen / reversed'],
          ['naive (2019 behaviour)', String(naive.redemptions), yuan(naive.loss_minor), '-', '-'],
          [
            'Vouchsafe, coupon as configured in 2019',
            String(as2019.redemptions),
            yuan(as2019.loss_minor),
            'refused at redemption',
            '-',
          ],
          [
            'Vouchsafe, holes misconfigured and approved',
            String(guarded.redemptions),
            yuan(guarded.loss_minor),
            `${guarded.detected_after_redemptions ?? '-'} redemptions / ${guarded.detected_after_ms ?? '-'} ms`,
            `${yuan(guarded.frozen_minor)} / ${yuan(guarded.reversed_minor)}`,
          ],
        ];
        for (const r of rows) process.stdout.write(`${r.join(' | ')}\n`);
        process.stdout.write(`invariants: ${summary.invariants_ok ? 'all hold' : 'VIOLATED'}\n`);
      }
      if (o.html) {
        writeFileSync(
          o.html,
          lossHtml(
            'Vouchsafe replay: the 2019 leaked coupon',
            [
              { name: 'naive', color: '#c0392b', points: naive.loss_over_time },
              { name: 'guarded (misconfigured, detection on)', color: '#27ae60', points: guarded.loss_over_time },
            ],
            JSON.stringify(summary, null, 2),
          ),
        );
      }
      process.exitCode = summary.invariants_ok ? 0 : 1;
    });
  simulate.addCommand(bruteForceCommand());
  simulate.addCommand(flashSaleCommand());
  return simulate;
}
