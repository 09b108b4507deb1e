import { useEffect, useState } from 'preact/hooks';
import { approveCampaign, type Campaign, isStaleApproval, messageOf, ok } from '../api.ts';
import { BudgetBar } from '../components/budget-bar.tsx';
import { CampaignAlerts } from '../components/campaign-alerts.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { GenerateCodes } from '../components/generate-codes.tsx';
import { KillSwitch } from '../components/kill-switch.tsx';
import { LintList } from '../components/lint-list.tsx';
import { LiveChart, type Sample, withSample } from '../components/live-chart.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { TopMerchants } from '../components/top-merchants.tsx';
import { useApi } from '../context.ts';
import { money, when } from '../format.ts';

function discountText(c: Campaign): string {
  const d = c.discount;
  if (d.type === 'fixed') return `${money(d.amount_minor, c.currency)} off`;
  if (d.type === 'percent') {
    const cap = d.max_discount_minor == null ? 'no cap' : `at most ${money(d.max_discount_minor, c.currency)}`;
    return `${d.percent_bp / 100}% off, ${cap}`;
  }
  return d.tiers
    .map((t) => `${money(t.amount_minor, c.currency)} off from ${money(t.min_spend_minor, c.currency)}`)
    .join('; ');
}

/** Polls the campaign every second and keeps the last two minutes of totals for the chart. */
function useLiveCampaign(id: string) {
  const api = useApi();
  const [campaign, setCampaign] = useState<Campaign | null>(null);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    let timer: number | undefined;
    const poll = async () => {
      if (document.visibilityState !== 'hidden') {
        try {
          const c = await ok(api.GET('/v1/campaigns/{id}', { params: { path: { id } } }));
          if (!alive) return;
          setCampaign(c);
          setError(null);
          const sample = {
            at_ms: Date.now(),
            redeemed: c.counts.redeemed,
            committed_minor: c.budget.spent_minor + c.budget.reserved_minor,
          };
          setSamples((s) => withSample(s, sample));
        } catch (e) {
          if (alive) setError(messageOf(e));
        }
      }
      if (alive) timer = window.setTimeout(poll, 1000);
    };
    void poll();
    return () => {
      alive = false;
      window.clearTimeout(timer);
    };
  }, [api, id, tick]);
  return { campaign, samples, error, reload: () => setTick((t) => t + 1) };
}

export function CampaignPage({ id }: { id: string }) {
  const { campaign: c, samples, error, reload } = useLiveCampaign(id);
  if (c === null) {
    return (
      <>
        <h1 tabIndex={-1}>Campaign</h1>
        {error ? <ErrorText error={error} /> : <p aria-busy="true">Loading…</p>}
      </>
    );
  }
  return (
    <article class="campaign-page" data-campaign-id={c.id} data-status={c.status}>
      <div class="page-head">
        <h1 tabIndex={-1}>{c.name}</h1>
        <StatusBadge status={c.status} />
      </div>
      <p class="sub">
        <code>{c.id}</code> · {discountText(c)} · {when(c.starts_at)} – {when(c.ends_at)}
        {c.status_reason ? ` · reason: ${c.status_reason}` : ''}
        {c.needs_approval && c.status === 'paused'
          ? ' · a change awaits approval: resuming sends it to the approval queue'
          : ''}
      </p>
      <ErrorText error={error} prefix="Live updates failed:" />
      {/* Keyed by status: a campaign that moved on gets a fresh panel, not the last one's busy button. */}
      <Launch key={c.status} c={c} onChange={reload} />
      <KillSwitch c={c} onChange={reload} />
      <section aria-labelledby="budget-title">
        <h2 id="budget-title">Budget</h2>
        <BudgetBar budget={c.budget} currency={c.currency} />
        <p>
          Worst case this campaign can ever cost:{' '}
          <strong data-testid="max-exposure">{money(c.max_exposure_minor, c.currency)}</strong>
        </p>
      </section>
      <GenerateCodes c={c} />
      <section aria-labelledby="live-title">
        <h2 id="live-title">Live</h2>
        <LiveChart samples={samples} currency={c.currency} />
      </section>
      <div class="two-col">
        <TopMerchants id={c.id} currency={c.currency} />
        <CampaignAlerts id={c.id} currency={c.currency} />
      </div>
      <section aria-labelledby="lint-title">
        <h2 id="lint-title">Lint</h2>
        <LintList lint={c.lint} />
      </section>
    </article>
  );
}

/** Submit (draft) and approve (pending) are the way in; the kill switch is the way out. */
function Launch({ c, onChange }: { c: Campaign; onChange: () => void }) {
  const api = useApi();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (c.status !== 'draft' && c.status !== 'pending_approval') return null;
  const act = async () => {
    setBusy(true);
    setError(null);
    try {
      const path = { params: { path: { id: c.id } }, body: {} };
      if (c.status === 'draft') await ok(api.POST('/v1/campaigns/{id}/submit', path));
      else await approveCampaign(api, c);
      // Busy until the page shows the new status (a new panel, see the key): until then the button
      // would submit or approve again what it still shows, and be refused for a step already taken.
      onChange();
      return;
    } catch (e) {
      setError(messageOf(e));
      // Changed since it was displayed: show the new version to review.
      if (isStaleApproval(e)) onChange();
    }
    setBusy(false);
  };
  return (
    <section class="launch" aria-labelledby="launch-title">
      <h2 id="launch-title">{c.status === 'draft' ? 'Launch' : 'Approval'}</h2>
      <p>
        {c.status === 'draft'
          ? 'Submitting lints the campaign again: errors block it, warnings or a large worst case send it for approval by a second key.'
          : 'This campaign waits for approval by a key outside the lineage of the keys that made or changed it: not one of them, a key one of them made or rotated, or the key that made one of them.'}
      </p>
      <button type="button" class="primary" onClick={act} disabled={busy}>
        {c.status === 'draft' ? 'Submit campaign' : 'Approve campaign'}
      </button>
      <ErrorText error={error} />
    </section>
  );
}
