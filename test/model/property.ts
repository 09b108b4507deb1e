import assert from 'node:assert/strict';
import fc from 'fast-check';
import { verifyStore } from '../../src/engine/verify.ts';
import type { HttpHarness } from '../http/harness.ts';
import { finishSequence, runStep, type Sequence, startSequence } from './driver.ts';
import { type CampaignConfig, configArb, type Step, stepArbs } from './steps.ts';

/** fast-check's command wrapper around a Step: always applicable, run on both sides. */
class StepCommand implements fc.AsyncCommand<object, Sequence> {
  constructor(readonly step: Step) {}
  check(): boolean {
    return true;
  }
  run(_m: object, s: Sequence): Promise<void> {
    return runStep(s, this.step);
  }
  toString(): string {
    return JSON.stringify(this.step);
  }
}

const commandArb = fc.oneof(...stepArbs).map((step) => new StepCommand(step));

/** Runs one sequence from nothing: launch the campaign, the steps, the final comparison. */
export async function runSequence(h: HttpHarness, cfg: CampaignConfig, steps: Step[], run: number): Promise<void> {
  const s = await startSequence(h, cfg, run);
  for (const step of steps) await runStep(s, step);
  await finishSequence(s);
}

/** Every DESIGN.md invariant over everything the harness's store holds. */
export async function assertStoreClean(h: HttpHarness): Promise<void> {
  const report = await verifyStore(h.store);
  assert.deepEqual(report.violations, [], 'invariant violations');
}

export interface ModelRunOptions {
  runs: number;
  seed: number;
  commands_max: number;
  /** A harness for the next sequences; `fresh(true)` may hand out a new one (checking the old one first). */
  harness: () => Promise<HttpHarness>;
}

/** The model-based property: random sequences on the server and the reference model agree answer by answer. */
export async function checkModel(opts: ModelRunOptions): Promise<void> {
  let run = 0;
  const property = fc.assert(
    fc.asyncProperty(
      configArb,
      fc.commands([commandArb], { maxCommands: opts.commands_max, size: 'max' }),
      async (cfg, cmds) => {
        const h = await opts.harness();
        const s = await startSequence(h, cfg, run++);
        await fc.asyncModelRun(() => ({ model: {}, real: s }), cmds);
        await finishSequence(s);
      },
    ),
    { numRuns: opts.runs, seed: opts.seed, verbose: 0 },
  );
  try {
    await property;
  } catch (e) {
    // The disagreement itself (expected, got, trace) rides on the cause; show it with the counterexample.
    const cause = e instanceof Error && e.cause instanceof Error ? `\n${e.cause.message}` : '';
    throw new Error(`${e instanceof Error ? e.message : String(e)}${cause}`);
  }
}
