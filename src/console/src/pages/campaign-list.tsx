import { type Campaign, type CampaignStatus, ok, type VouchsafeClient } from '../api.ts';
import { BudgetBar } from '../components/budget-bar.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { lintSummary } from '../components/lint-list.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { useApi } from '../context.ts';
import { money } from '../format.ts';
import { OlderButton, type Page, usePaged } from '../paging.tsx';

const page_size = 100;

/** One page of campaigns (of one status, if given) after `starting_after`. */
export function campaignPage(api: VouchsafeClient, status?: CampaignStatus) {
  return (starting_after: string | undefined): Promise<Page<Campaign>> =>
    ok(
      api.GET('/v1/campaigns', {
        params: {
          query: {
            limit: page_size,
            ...(starting_after === undefined ? {} : { starting_after }),
            ...(status === undefined ? {} : { status }),
          },
        },
      }),
    );
}

/** Newest campaigns first, a page of 100 at a time, refreshed every 5 s. */
export function CampaignList() {
  const api = useApi();
  const list = usePaged(campaignPage(api), 5000, [api]);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>Campaigns</h1>
        <Link href="/campaigns/new" class="button primary">
          New campaign
        </Link>
      </div>
      <ErrorText error={list.error} />
      {list.loading && list.data === null ? <p aria-busy="true">Loading campaigns…</p> : null}
      {list.data !== null && list.data.data.length === 0 ? <p>No campaigns yet.</p> : null}
      <ul class="campaign-cards" aria-label="Campaigns">
        {list.data?.data.map((c) => (
          <CampaignCard key={c.id} c={c} />
        ))}
      </ul>
      <OlderButton list={list} label="Older campaigns" noun="campaigns" rest="GET /v1/campaigns" />
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
