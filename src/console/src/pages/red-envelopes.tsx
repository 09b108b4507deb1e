import { ok, type RedEnvelope } from '../api.ts';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { useApi } from '../context.ts';
import { count, money, when } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { OlderButton, usePaged } from '../paging.tsx';

const page_size = 50;

function percent(part: number, whole: number): number {
  return whole <= 0 ? 0 : Math.min(100, (part / whole) * 100);
}

/** How far an envelope has been grabbed, by packets and by money, as bars with the numbers beside them. */
function Progress({ e }: { e: RedEnvelope }) {
  const packets = percent(e.grabbed_count, e.count);
  const minor = percent(e.grabbed_minor, e.total_minor);
  return (
    <div class="envelope-progress" data-grabbed-count={e.grabbed_count} data-count={e.count}>
      <label>
        Packets grabbed: {count(e.grabbed_count)} of {count(e.count)}
        <progress max={e.count} value={e.grabbed_count} aria-valuetext={`${packets.toFixed(0)}%`} />
      </label>
      <label>
        Money grabbed: {money(e.grabbed_minor, e.currency)} of {money(e.total_minor, e.currency)}
        <progress max={e.total_minor} value={e.grabbed_minor} aria-valuetext={`${minor.toFixed(0)}%`} />
      </label>
      <p class="hint">
        Remaining {money(e.remaining_minor, e.currency)}
        {e.refunded_minor > 0 ? ` · refunded ${money(e.refunded_minor, e.currency)}` : ''} · expires{' '}
        {when(e.expires_at)}
      </p>
    </div>
  );
}

/**
 * A badge when an envelope with packets left refuses grabs because of its backing campaign (waiting for
 * a second key's approval, whose button is on the campaign's page; paused by an incident or the kill
 * switch; revoked); an exhausted or expired one says so itself.
 */
function CampaignHeld({ e }: { e: RedEnvelope }) {
  if (e.status !== 'active' || e.campaign_status === 'active') return null;
  return (
    <span class={`badge campaign-${e.campaign_status}`} title="grabs are refused until the campaign is active">
      campaign {e.campaign_status}
    </span>
  );
}

export function RedEnvelopes() {
  const api = useApi();
  const list = usePaged(
    (starting_after) =>
      ok(
        api.GET('/v1/red-envelopes', {
          params: { query: { limit: page_size, ...(starting_after ? { starting_after } : {}) } },
        }),
      ),
    3000,
    [api],
  );
  return (
    <>
      <h1 tabIndex={-1}>Red envelopes</h1>
      <ErrorText error={list.error} />
      {list.loading && list.data === null ? <p aria-busy="true">Loading red envelopes…</p> : null}
      {list.data !== null && list.data.data.length === 0 ? <p>No red envelopes.</p> : null}
      <ul class="campaign-cards" aria-label="Red envelopes">
        {list.data?.data.map((e) => (
          <li key={e.id} class="card" data-envelope-id={e.id} data-status={e.status}>
            <div class="card-head">
              <h2>
                <Link href={`/red-envelopes/${encodeURIComponent(e.id)}`}>
                  {money(e.total_minor, e.currency)} in {count(e.count)} packets
                </Link>
              </h2>
              <span class={`badge envelope-${e.status}`}>{e.status}</span>
              <CampaignHeld e={e} />
            </div>
            <Progress e={e} />
          </li>
        ))}
      </ul>
      <OlderButton list={list} label="Older red envelopes" noun="red envelopes" rest="GET /v1/red-envelopes" />
    </>
  );
}

export function RedEnvelopePage({ id }: { id: string }) {
  const api = useApi();
  const envelope = usePoll(() => ok(api.GET('/v1/red-envelopes/{id}', { params: { path: { id } } })), 1000, [api, id]);
  const e = envelope.data;
  return (
    <>
      <h1 tabIndex={-1}>{e ? `Red envelope: ${money(e.total_minor, e.currency)}` : 'Red envelope'}</h1>
      <ErrorText error={envelope.error} />
      {e ? (
        <article class="card" data-envelope-id={e.id} data-status={e.status}>
          <p>
            <code>{e.id}</code> · {e.status} · backing campaign{' '}
            <Link href={`/campaigns/${encodeURIComponent(e.campaign_id)}`}>{e.campaign_id}</Link> <CampaignHeld e={e} />
          </p>
          <Progress e={e} />
        </article>
      ) : null}
    </>
  );
}
