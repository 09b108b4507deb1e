import { useState } from 'preact/hooks';
import { type Campaign, ok, type VouchsafeClient } from '../api.ts';
import { BudgetBar } from '../components/budget-bar.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { lintSummary } from '../components/lint-list.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { useApi } from '../context.ts';
import { count, money } from '../format.ts';
import { usePoll } from '../hooks.ts';

const page_size = 100;
/** Pages the list grows to; past them the API (or the campaign's own address) reaches the rest. */
export const pages_max = 20;

/** The newest `pages` pages of campaigns, read again in full so older ones stay as fresh as the first. */
export async function campaignPages(
  api: VouchsafeClient,
  pages: number,
): Promise<{ data: Campaign[]; has_more: boolean }> {
  const data: Campaign[] = [];
  for (let n = 0; n < pages; n++) {
    const last = data[data.length - 1];
    const query = last === undefined ? { limit: page_size } : { limit: page_size, starting_after: last.id };
    const page = await ok(api.GET('/v1/campaigns', { params: { query } }));
    data.push(...page.data);
    if (!page.has_more) return { data, has_more: false };
  }
  return { data, has_more: true };
}

/** Newest campaigns first, a page of 100 at a time, refreshed every 5 s. */
export function CampaignList() {
  const api = useApi();
  const [pages, setPages] = useState(1);
  const list = usePoll(() => campaignPages(api, pages), 5000, [api, pages]);
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
      {list.data?.has_more && pages < pages_max ? (
        <button type="button" onClick={() => setPages(pages + 1)} disabled={list.loading}>
          Older campaigns
        </button>
      ) : null}
      {list.data?.has_more && pages >= pages_max ? (
        <p class="hint">Showing the newest {count(pages * page_size)} campaigns; GET /v1/campaigns lists the rest.</p>
      ) : null}
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
