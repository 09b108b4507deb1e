import { alertFigures } from '../alert-text.ts';
import { optional } from '../api.ts';
import { useApi } from '../context.ts';
import { when } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { ErrorText } from './error-text.tsx';

const kindLabel: Record<string, string> = {
  rate_spike: 'Redemption rate spike',
  merchant_spike: 'One merchant spiking',
  budget_burn: 'Budget burning too fast',
  heavy_hitter: 'A heavy hitter',
  cash_equivalent_share: 'Cash-equivalent share too high',
};

/** The detector's alerts for one campaign; a server without detection (404) says so instead. */
export function CampaignAlerts({ id, currency }: { id: string; currency: string }) {
  const api = useApi();
  const alerts = usePoll(
    () => optional(api.GET('/v1/alerts', { params: { query: { limit: 20, campaign_id: id } } })),
    5000,
    [api, id],
  );
  const list = alerts.data?.data ?? [];
  return (
    <section aria-labelledby="alerts-title" class="card">
      <h2 id="alerts-title">Alerts</h2>
      <ErrorText error={alerts.error} />
      {!alerts.loading && alerts.data === null && alerts.error === null ? (
        <p class="hint">This server does not report alerts.</p>
      ) : null}
      {alerts.data !== null && list.length === 0 ? <p>No alerts.</p> : null}
      {list.length > 0 ? (
        <ul class="alerts">
          {list.map((a) => (
            <li key={a.id} class={`alert ${a.action}`} data-alert-kind={a.kind}>
              <strong>{kindLabel[a.kind] ?? a.kind}</strong>
              {a.merchant_id ? ` at ${a.merchant_id}` : ''}
              {a.subject ? ` (${a.subject})` : ''}: <span data-testid="alert-figures">{alertFigures(a, currency)}</span>
              . {a.action === 'paused' ? 'The campaign was paused.' : 'Alerted only.'}{' '}
              <span class="hint">{when(a.created_at)}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
