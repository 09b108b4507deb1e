import { useEffect, useState } from 'preact/hooks';
import { ApiError, type CampaignLint, messageOf, ok } from '../api.ts';
import { bodyOf, FormProblem, type FormState } from '../campaign-form.ts';
import { useApi } from '../context.ts';
import { money } from '../format.ts';
import { LintList } from './lint-list.tsx';

export type DryRun =
  | { state: 'checking' }
  | { state: 'ok'; result: CampaignLint }
  | { state: 'problem'; param: string | null; message: string };

/** Waits this long after the last keystroke before asking the server. */
const debounce_ms = 250;

/**
 * Lint and worst case as the marketer types: the server's dry run (POST /v1/campaigns/lint)
 * parses, lints and bounds the draft exactly as creating it would, and creates nothing.
 */
export function useDryRun(form: FormState): DryRun {
  const api = useApi();
  const [run, setRun] = useState<DryRun>({ state: 'checking' });
  useEffect(() => {
    let body: ReturnType<typeof bodyOf>;
    try {
      body = bodyOf(form);
    } catch (e) {
      if (e instanceof FormProblem) setRun({ state: 'problem', param: e.param, message: e.message });
      return;
    }
    const abort = new AbortController();
    const timer = window.setTimeout(async () => {
      try {
        const result = await ok(api.POST('/v1/campaigns/lint', { body, signal: abort.signal }));
        setRun({ state: 'ok', result });
      } catch (e) {
        if (abort.signal.aborted) return;
        const param = e instanceof ApiError ? (e.param ?? null) : null;
        setRun({ state: 'problem', param, message: messageOf(e) });
      }
    }, debounce_ms);
    return () => {
      window.clearTimeout(timer);
      abort.abort();
    };
  }, [api, form]);
  return run;
}

const outcome: Record<CampaignLint['on_submit'], string> = {
  active: 'Submitting will launch it at once.',
  pending_approval: 'Submitting will send it for approval by a second key.',
  campaign_lint_failed: 'It cannot be submitted until the errors are fixed.',
};

/** The dry run's answer, announced politely to screen readers as it changes. */
export function DryRunPanel({ run, currency }: { run: DryRun; currency: string }) {
  return (
    <aside class="dry-run card" aria-labelledby="dry-run-title" data-state={run.state}>
      <h2 id="dry-run-title">Before you launch</h2>
      <div aria-live="polite" aria-atomic="true">
        {run.state === 'checking' ? <p>Checking…</p> : null}
        {run.state === 'problem' ? (
          <p class="error" data-testid="dry-run-problem">
            {run.message}
          </p>
        ) : null}
        {run.state === 'ok' ? (
          <>
            <p class="exposure">
              Worst case:{' '}
              <strong data-testid="dry-run-exposure" data-minor={run.result.max_exposure_minor}>
                {money(run.result.max_exposure_minor, currency)}
              </strong>
            </p>
            <p data-testid="dry-run-outcome" data-outcome={run.result.on_submit}>
              {outcome[run.result.on_submit]}
              {run.result.max_exposure_minor > run.result.approval_threshold_minor
                ? ` The worst case is above the approval threshold of ${money(run.result.approval_threshold_minor, currency)}.`
                : ''}
            </p>
            <LintList lint={run.result.lint} />
          </>
        ) : null}
      </div>
    </aside>
  );
}
