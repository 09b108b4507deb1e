import { type Campaign, ok } from '../api.ts';
import { BudgetBar } from '../components/budget-bar.tsx';
import { Link } from '../components/link.tsx';
import { lintSummary } from '../components/lint-list.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { useApi } from '../context.ts';
import { money } from '../format.ts';
import { usePoll } from '../hooks.ts';

/** Newest campaigns first (one page of 100), refreshed every 5 s. */
export function CampaignList() {
  const api = useApi();
  const list = usePoll(() => ok(api.GET('/v1/campaigns', { params: { query: { limit: 100 } } })), 5000, [api]);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>Campaigns</h1>
        <Link href="/campaigns/new" class="button primary">
          New campaign
        </Link>
      </div>
      {list.error ? (
        <p class="error" role="alert">
          {list.error}
        </p>
      ) : null}
      {list.loading && list.data === null ? <p aria-busy="true">Loading campaigns…</p> : null}
      {list.data !== null && list.data.data.length === 0 ? <p>No campaigns yet.</p> : null}
      <ul class="campaign-cards" aria-label="Campaigns">
        {list.data?.data.map((c) => (
          <CampaignCard key={c.id} c={c} />
        ))}
      </ul>
      {list.data?.has_more ? <p class="hint">Showing the newest 100 campaigns.</p> : null}
    </>
  );
}

function CampaignCard({ c }: { c: Campaign }) {
  const findings = c.lint.length;
  return (
    <li class="card campaign-card" data-campaign-id={c.id} data-status={c.status}>
      <div class="card-head">
        <h2>
          <Link href={`/campaigns/${encodeURIComponent(c.id)}`}>{c.name}</Link>
        </h2>
        <StatusBadge status={c.status} />
      </div>
      <BudgetBar budget={c.budget} currency={c.currency} />
      <dl class="facts">
        <div>
          <dt>Max exposure</dt>
          <dd data-testid="max-exposure">{money(c.max_exposure_minor, c.currency)}</dd>
        </div>
        <div>
          <dt>Lint</dt>
          <dd class={findings > 0 ? 'has-findings' : ''}>{lintSummary(c.lint)}</dd>
        </div>
        <div>
          <dt>Redeemed</dt>
          <dd>{c.counts.redeemed}</dd>
        </div>
      </dl>
    </li>
  );
}
