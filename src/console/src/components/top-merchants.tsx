import { ok } from '../api.ts';
import { useApi } from '../context.ts';
import { count, money } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { ErrorText } from './error-text.tsx';

const shown_max = 10;

/** Where the money goes: live exposure by merchant, largest first (refreshed every 3 s). */
export function TopMerchants({ id, currency }: { id: string; currency: string }) {
  const api = useApi();
  const exposure = usePoll(() => ok(api.GET('/v1/campaigns/{id}/exposure', { params: { path: { id } } })), 3000, [
    api,
    id,
  ]);
  const rows = exposure.data?.by_merchant.slice(0, shown_max) ?? [];
  const total = exposure.data?.by_merchant.reduce((n, m) => n + m.count, 0) ?? 0;
  return (
    <section aria-labelledby="merchants-title" class="card" data-testid="top-merchants" data-total-count={total}>
      <h2 id="merchants-title">Top merchants</h2>
      <ErrorText error={exposure.error} />
      {rows.length === 0 ? (
        <p>No redemptions yet.</p>
      ) : (
        <table class="merchants">
          <caption class="visually-hidden">Live redemptions by merchant, largest discount total first</caption>
          <thead>
            <tr>
              <th scope="col">Merchant</th>
              <th scope="col" class="num">
                Redemptions
              </th>
              <th scope="col" class="num">
                Discount
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.merchant_id} data-merchant-id={m.merchant_id} data-count={m.count}>
                <th scope="row">{m.merchant_id}</th>
                <td class="num">{count(m.count)}</td>
                <td class="num">{money(m.discount_minor, currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
