import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { positiveInt } from '../main.ts';
import { bruteForceDefaults, runBruteForce } from './brute-force.ts';
import { naiveBaseline } from './brute-force-naive.ts';
import { bar, count as n, yuan } from './progress.ts';
import { lossHtml } from './report-html.ts';

interface Options {
  codes: number;
  legit: number;
  guesses: number;
  rate: number;
  seed: number;
  json?: boolean;
  html?: string;
}

/** `vouchsafe simulate brute-force`: code guessing against a unique_codes campaign, beside a naive baseline. */
export function bruteForceCommand(): Command {
  const d = bruteForceDefaults;
  return new Command('brute-force')
    .description('guess unique codes from few and many accounts and IPs while holders redeem theirs')
    .option('--codes <n>', 'unique codes minted by the engine', positiveInt, d.codes)
    .option('--legit <n>', 'holders redeeming their own code during the attack', positiveInt, d.legit)
    .option('--guesses <n>', 'guesses over all attackers', positiveInt, d.guesses)
    .option('--rate <n>', 'guesses per simulated second', positiveInt, d.guesses_per_s)
    .option('--seed <n>', 'seed of the simulated traffic (codes come from the CSPRNG)', positiveInt, d.seed)
    .option('--json', 'print one JSON line')
    .option('--html <file>', 'write an HTML report with loss over time')
    .action(async (o: Options) => {
      const b = bar('brute-force', 'guesses', Boolean(o.json));
      const r = await runBruteForce({
        codes: o.codes,
        legit: o.legit,
        guesses: o.guesses,
        guesses_per_s: o.rate,
        seed: o.seed,
        ...b.opts,
      });
      b.stop();
      const naive = naiveBaseline(o.codes, r.guesses, o.rate, 2000, o.seed);
      const { loss_over_time, ...result } = r;
      const { loss_over_time: naive_loss_over_time, ...naive_summary } = naive;
      const summary = { scenario: 'brute-force', ...result, naive: naive_summary };
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        process.stdout.write(`${n(r.codes)} unique codes, ${n(r.guesses)} guesses at ${n(o.rate)} a second\n`);
        const rows = [
          [
            'attackers',
            'guesses',
            'not found',
            'refused (locked out)',
            'locked out',
            'answered before lockout (max)',
            'hits',
          ],
        ];
        for (const g of Object.values(r.groups)) {
          const locked = g.identities === 0 ? 'n/a' : `${g.locked_out}/${g.identities}`;
          const before = g.answered_before_lockout_max === null ? '-' : String(g.answered_before_lockout_max);
          rows.push([
            g.description,
            n(g.guesses),
            n(g.not_found),
            n(g.refused_locked_out),
            locked,
            before,
            String(g.hits),
          ]);
        }
        for (const row of rows) process.stdout.write(`${row.join(' | ')}\n`);
        process.stdout.write(
          `keyed check: ${n(r.rejected_by_check)} code-shaped guesses refused without a store read, ${r.passed_check} passed it by chance; ${n(r.store_lookups)} guesses cost a store read\n` +
            `holders: ${n(r.legit_ok)}/${n(r.legit_total)} redeemed (${n(r.legit_typos)} mistyped first)\n` +
            `hits: ${r.hits} (expected ${r.expected_hits.toExponential(1)}), loss ${yuan(r.loss_minor)}\n` +
            `naive baseline (${naive.label}): ${n(naive.hits)} hits (expected ${n(naive.expected_hits)}), loss ${yuan(naive.loss_minor)}; sequential codes: ${n(naive.sequential_hits)} hits, ${yuan(naive.sequential_loss_minor)}\n` +
            `invariants: ${r.invariants_ok ? 'all hold' : 'VIOLATED'}\n`,
        );
      }
      if (o.html) {
        const series = [
          {
            name: 'naive: 6-digit codes, no check, no lockout (a model, not the engine)',
            color: '#c0392b',
            points: naive_loss_over_time,
          },
          { name: 'Vouchsafe: 65-bit codes, keyed check, lockout (engine)', color: '#27ae60', points: loss_over_time },
        ];
        writeFileSync(
          o.html,
          lossHtml('Vouchsafe simulation: guessing unique codes', series, JSON.stringify(summary, null, 2)),
        );
      }
      process.exitCode = r.invariants_ok ? 0 : 1;
    });
}
