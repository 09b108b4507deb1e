import { type Campaign, type Incident, ok, optional } from '../api.ts';
import { ConfirmButton } from '../components/confirm-dialog.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { useApi } from '../context.ts';
import { count, money, when } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { actionLabel } from './incidents.tsx';

type Row = { key: string; count: number; discount_minor: number };
type Fmt = (minor: number) => string;

/** Campaigns fetched one by one, a few at a time: an incident may name up to 1,000. */
const fetches_parallel = 8;

/**
 * How the report writes money: in the one currency of every campaign in scope; while a campaign's
 * currency is not known yet (or when they differ) as minor units, saying so, never in a guessed currency.
 */
function formatterFor(currencies: readonly (string | undefined)[]): Fmt {
  const known = new Set(currencies);
  const [only] = [...known];
  if (known.size === 1 && only !== undefined) return (m) => money(m, only);
  const why = known.has(undefined) ? '' : ' in mixed currencies';
  return (m) => `${count(m)} minor units${why}`;
}

/** Frozen money per currency from the by-campaign rows, when they cover every frozen redemption. */
function perCurrency(r: Incident['report'], currencyOf: (id: string) => string | undefined): string | null {
  if (r === null) return null;
  const sums = new Map<string, number>();
  let covered = 0;
  for (const row of r.by_campaign) {
    const currency = currencyOf(row.campaign_id);
    if (currency === undefined) return null;
    sums.set(currency, (sums.get(currency) ?? 0) + row.discount_minor);
    covered += row.discount_minor;
  }
  if (covered !== r.frozen_minor || sums.size < 2) return null;
  return [...sums].map(([currency, minor]) => money(minor, currency)).join(' + ');
}

/**
 * The campaigns an incident resolved to, each read by its id (a list page holds only the newest),
 * and why they could not be read while they cannot.
 */
function useCampaigns(ids: readonly string[] | undefined): { byId: Map<string, Campaign>; error: string | null } {
  const api = useApi();
  const key = ids?.join(',') ?? '';
  const loaded = usePoll(
    async () => {
      const found = new Map<string, Campaign>();
      const todo = [...(ids ?? [])];
      const worker = async () => {
        for (let id = todo.shift(); id !== undefined; id = todo.shift()) {
          const c = await optional(api.GET('/v1/campaigns/{id}', { params: { path: { id } } }));
          if (c !== null) found.set(c.id, c);
        }
      };
      await Promise.all(Array.from({ length: fetches_parallel }, worker));
      return found;
    },
    null,
    [api, key],
  );
  return { byId: loaded.data ?? new Map(), error: loaded.error };
}

function Breakdown(p: {
  title: string;
  column: string;
  rows: Row[];
  fmt: (minor: number, key: string) => string;
  label?: (key: string) => string;
}) {
  const { title, rows, fmt } = p;
  if (rows.length === 0) return null;
  // Scrolls sideways on its own on a narrow screen rather than widening the page (Chromium lets the keyboard scroll it).
  return (
    <div class="table-scroll">
      <table>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">{p.column}</th>
            <th scope="col" class="num">
              Redemptions
            </th>
            <th scope="col" class="num">
              Discount
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <th scope="row">{p.label ? p.label(r.key) : r.key}</th>
              <td class="num">{count(r.count)}</td>
              <td class="num">{fmt(r.discount_minor, r.key)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** An incident's scope, exposure report and resolution; polled while it is still being applied. */
export function IncidentPage({ id }: { id: string }) {
  const api = useApi();
  const incident = usePoll(() => ok(api.GET('/v1/incidents/{id}', { params: { path: { id } } })), 2000, [api, id]);
  const { byId, error: campaigns_error } = useCampaigns(incident.data?.campaign_ids);
  const i = incident.data;
  if (i === null) {
    return (
      <>
        <h1 tabIndex={-1}>Incident</h1>
        {incident.error ? <ErrorText error={incident.error} /> : <p aria-busy="true">Loading…</p>}
      </>
    );
  }
  const currencyOf = (id: string) => byId.get(id)?.currency;
  const fmt = formatterFor(i.campaign_ids.map(currencyOf));
  return (
    <article class="incident-page" data-incident-id={i.id} data-status={i.status}>
      <div class="page-head">
        <h1 tabIndex={-1}>{i.title}</h1>
        <span class={`badge incident-${i.status}`}>{i.status}</span>
      </div>
      <p class="sub">
        <code>{i.id}</code> · opened {when(i.created_at)}
        {i.resolved_at ? ` · resolved ${when(i.resolved_at)} (${i.resolution})` : ''}
      </p>
      {/* Until they are read, campaigns show as their ids and money in minor units: say why. */}
      <ErrorText error={incident.error} prefix="Live updates failed:" />
      <ErrorText error={campaigns_error} prefix="The campaigns in scope could not be read:" />
      <section aria-labelledby="scope-title">
        <h2 id="scope-title">Scope and actions</h2>
        <ul>
          {i.campaign_ids.map((c) => (
            <li key={c}>
              <Link href={`/campaigns/${encodeURIComponent(c)}`}>{byId.get(c)?.name ?? c}</Link>
            </li>
          ))}
          {i.scope.merchant_ids ? <li>Merchants: {i.scope.merchant_ids.join(', ')}</li> : null}
          {i.scope.from || i.scope.to ? (
            <li>
              Redemptions {i.scope.from ? `from ${when(i.scope.from)}` : ''}{' '}
              {i.scope.to ? `until ${when(i.scope.to)}` : ''}
            </li>
          ) : null}
        </ul>
        <ul>
          {i.actions.map((a) => (
            <li key={a}>{actionLabel[a]}</li>
          ))}
        </ul>
      </section>
      {i.progress && (i.status === 'opening' || i.status === 'resolving') ? (
        <p role="status">
          {i.progress.phase}: {i.progress.campaigns_done} of {i.progress.campaigns_total} campaigns,{' '}
          {count(i.progress.redemptions_done)} redemptions so far.
        </p>
      ) : null}
      <Report i={i} fmt={fmt} currencyOf={currencyOf} nameOf={(c) => byId.get(c)?.name ?? c} />
      <Resolve
        i={i}
        fmt={fmt}
        frozenMoney={i.report ? perCurrency(i.report, currencyOf) : null}
        onDone={incident.reload}
      />
    </article>
  );
}

function Report(p: {
  i: Incident;
  fmt: Fmt;
  currencyOf: (id: string) => string | undefined;
  nameOf: (id: string) => string;
}) {
  const { i, fmt, currencyOf, nameOf } = p;
  const r = i.report;
  if (r === null) return <p aria-busy="true">The report is being prepared…</p>;
  return (
    <section aria-labelledby="report-title">
      <h2 id="report-title">Exposure report</h2>
      <p>
        Confirmed redemptions in scope are frozen until you resolve the incident; holds in scope (orders not confirmed
        yet) were released, their budget given back, and their checkouts can no longer confirm them.
      </p>
      <dl
        class="facts"
        data-testid="incident-report"
        data-frozen-count={r.frozen_count}
        data-frozen-minor={r.frozen_minor}
        data-released-count={r.released_holds_count}
        data-released-minor={r.released_holds_minor}
      >
        <div>
          <dt>Frozen redemptions</dt>
          <dd>{count(r.frozen_count)}</dd>
        </div>
        <div>
          <dt>Frozen money</dt>
          <dd data-testid="frozen-money">{perCurrency(r, currencyOf) ?? fmt(r.frozen_minor)}</dd>
        </div>
        <div>
          <dt>Holds released</dt>
          <dd>{count(r.released_holds_count)}</dd>
        </div>
        <div>
          <dt>Released money</dt>
          <dd>{fmt(r.released_holds_minor)}</dd>
        </div>
        <div>
          <dt>Coupons revoked</dt>
          <dd>{count(r.revoked_coupons)}</dd>
        </div>
        <div>
          <dt>Campaigns paused</dt>
          <dd>{count(r.paused_campaigns)}</dd>
        </div>
      </dl>
      <div class="two-col">
        <Breakdown
          title="By campaign"
          column="Campaign"
          rows={r.by_campaign.map((x) => ({ ...x, key: x.campaign_id }))}
          fmt={(m, id) => {
            const currency = currencyOf(id);
            return currency === undefined ? fmt(m) : money(m, currency);
          }}
          label={nameOf}
        />
        <Breakdown
          title="By merchant"
          column="Merchant"
          rows={r.by_merchant.map((x) => ({ ...x, key: x.merchant_id }))}
          fmt={fmt}
        />
        <Breakdown
          title="By product kind"
          column="Product kind"
          rows={r.by_product_kind.map((x) => ({ ...x, key: x.product_kind }))}
          fmt={fmt}
        />
      </div>
    </section>
  );
}

/** Frozen money is decided once: reversed (orders refunded, budget back) or honoured (confirmed). */
function Resolve(p: { i: Incident; fmt: Fmt; frozenMoney: string | null; onDone: () => void }) {
  const { i, fmt, onDone } = p;
  const api = useApi();
  if (i.status === 'resolved') {
    return (
      <section aria-labelledby="resolve-title">
        <h2 id="resolve-title">Resolution</h2>
        <p data-testid="incident-resolution">
          {i.resolution === 'reverse' ? 'Reversed' : 'Honoured'}
          {i.resolved ? `: ${count(i.resolved.count)} redemptions, ${fmt(i.resolved.discount_minor)}.` : '.'}
        </p>
      </section>
    );
  }
  if (i.status !== 'open') return null;
  const resolve = (resolution: 'reverse' | 'honour') =>
    ok(api.POST('/v1/incidents/{id}/resolve', { params: { path: { id: i.id } }, body: { resolution } }));
  const frozen = i.report
    ? `${count(i.report.frozen_count)} frozen redemptions (${p.frozenMoney ?? fmt(i.report.frozen_minor)})`
    : 'the frozen redemptions';
  return (
    <section aria-labelledby="resolve-title" class="kill-switch">
      <h2 id="resolve-title">Resolve</h2>
      <div class="kill-actions">
        <ConfirmButton
          label="Reverse frozen redemptions"
          class="danger"
          danger
          title="Reverse the frozen redemptions?"
          description={
            <p>{frozen} are reversed: the orders are refunded or cancelled and the budget gets the money back.</p>
          }
          confirm_label="Reverse them"
          run={() => resolve('reverse')}
          after={onDone}
        />
        <ConfirmButton
          label="Honour frozen redemptions"
          class="primary"
          title="Honour the frozen redemptions?"
          description={<p>{frozen} are confirmed as they were: the customers keep their discounts.</p>}
          confirm_label="Honour them"
          run={() => resolve('honour')}
          after={onDone}
        />
      </div>
    </section>
  );
}
