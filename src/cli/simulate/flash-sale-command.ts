import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { positiveInt } from '../main.ts';
import { flashSaleDefaults, runFlashSale } from './flash-sale.ts';
import { bar, count as n, yuan } from './progress.ts';
import { lossHtml } from './report-html.ts';

interface Options {
  quiet: number;
  quietRate: number;
  peak: number;
  ramp: number;
  peakSeconds: number;
  merchants: number;
  seed: number;
  json?: boolean;
  html?: string;
}

/** `vouchsafe simulate flash-sale`: a legitimate spike that detection must not pause. */
export function flashSaleCommand(): Command {
  const d = flashSaleDefaults;
  return new Command('flash-sale')
    .description('quiet traffic, then a flash sale at many times the rate over many merchants, detection on')
    .option('--quiet <s>', 'seconds of ordinary traffic first', positiveInt, d.quiet_s)
    .option('--quiet-rate <n>', 'ordinary redemptions per second', positiveInt, d.quiet_per_s)
    .option('--peak <x>', 'peak rate as a multiple of the ordinary rate', positiveInt, d.peak_multiplier)
    .option('--ramp <s>', 'seconds from the ordinary rate to the peak', positiveInt, d.ramp_s)
    .option('--peak-seconds <s>', 'seconds at the peak', positiveInt, d.peak_s)
    .option('--merchants <n>', 'merchants taking part (sizes 1/sqrt(rank))', positiveInt, d.merchants)
    .option('--seed <n>', 'seed of the simulated traffic', positiveInt, d.seed)
    .option('--json', 'print one JSON line')
    .option('--html <file>', 'write an HTML report with redemptions per second')
    .action(async (o: Options) => {
      const b = bar('flash-sale', 'simulated seconds', Boolean(o.json));
      const r = await runFlashSale({
        quiet_s: o.quiet,
        quiet_per_s: o.quietRate,
        peak_multiplier: o.peak,
        ramp_s: o.ramp,
        peak_s: o.peakSeconds,
        merchants: o.merchants,
        seed: o.seed,
        ...b.opts,
      });
      b.stop();
      const { sent_per_s, accepted_per_s, ...result } = r;
      const pauses = r.alerts.filter((a) => a.action === 'paused').length;
      const summary = { scenario: 'flash-sale', ...result, alerts_raised: r.alerts.length, pauses };
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        process.stdout.write(
          `${n(o.merchants)} merchants, ${n(o.quietRate)}/s for ${o.quiet} s, then ${o.peak}x (peak ${n(r.peak_per_s)}/s) for ${o.peakSeconds} s\n` +
            `redemptions: ${n(r.accepted)} accepted of ${n(r.sent)} sent${Object.keys(r.refused).length > 0 ? `, refused ${JSON.stringify(r.refused)}` : ''}\n` +
            `campaign paused: ${r.paused ? `YES, ${r.paused_at_s} s into the sale` : 'no'}\n` +
            `alerts: ${r.alerts.length === 0 ? 'none' : r.alerts.length}\n`,
        );
        for (const a of r.alerts) {
          const subject = a.merchant_id ?? a.subject ?? 'campaign';
          process.stdout.write(
            `  ${a.at_s.toFixed(1)} s: ${a.kind} (${subject}) observed ${a.observed.toFixed(1)} vs baseline ${a.baseline.toFixed(1)} -> ${a.action}\n`,
          );
        }
        process.stdout.write(
          `budget: ${yuan(r.spent_minor)} spent of ${yuan(r.budget_minor)}; sum of discounts ${yuan(r.discounts_minor)} (${r.spent_minor === r.discounts_minor ? 'equal' : 'DIFFERENT'})\n` +
            `invariants: ${r.invariants_ok ? 'all hold' : 'VIOLATED'}\n`,
        );
      }
      if (o.html) {
        const series = [
          { name: 'sent per second', color: '#7f8c8d', points: sent_per_s },
          { name: 'accepted per second', color: '#27ae60', points: accepted_per_s },
        ];
        const caption = (max: number) =>
          `Redemptions per simulated second (peak ${n(max)}); the sale opens after ${o.quiet} s of ordinary traffic.`;
        writeFileSync(
          o.html,
          lossHtml('Vouchsafe simulation: a flash sale', series, JSON.stringify(summary, null, 2), caption),
        );
      }
      process.exitCode = r.invariants_ok && r.spent_minor === r.discounts_minor ? 0 : 1;
    });
}
