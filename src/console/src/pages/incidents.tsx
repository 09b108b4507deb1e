import { useRef, useState } from 'preact/hooks';
import { type IncidentAction, newIdempotencyKey, ok } from '../api.ts';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { useApi } from '../context.ts';
import { when } from '../format.ts';
import { OlderButton, usePaged } from '../paging.tsx';
import { navigate } from '../router.ts';
import { campaignPage } from './campaign-list.tsx';

const page_size = 50;

export const actionLabel: Record<IncidentAction, string> = {
  pause_campaigns: 'Pause the campaigns in scope',
  freeze_redemptions: 'Freeze their redemptions (the money is held until the incident is resolved)',
  revoke_unredeemed: 'Revoke every coupon not yet redeemed',
};

/** Incidents, newest first, and the form that opens one. */
export function Incidents() {
  const api = useApi();
  const list = usePaged(
    (starting_after) =>
      ok(
        api.GET('/v1/incidents', {
          params: { query: { limit: page_size, ...(starting_after ? { starting_after } : {}) } },
        }),
      ),
    5000,
    [api],
  );
  return (
    <>
      <h1 tabIndex={-1}>Incidents</h1>
      <OpenIncident />
      <section aria-labelledby="incident-list-title">
        <h2 id="incident-list-title">Recent incidents</h2>
        <ErrorText error={list.error} />
        {list.loading && list.data === null ? <p aria-busy="true">Loading incidents…</p> : null}
        {list.data !== null && list.data.data.length === 0 ? <p>No incidents.</p> : null}
        <ul class="incident-list">
          {list.data?.data.map((i) => (
            <li key={i.id} data-incident-id={i.id} data-status={i.status}>
              <Link href={`/incidents/${encodeURIComponent(i.id)}`}>{i.title}</Link> · {i.status} · {when(i.created_at)}
            </li>
          ))}
        </ul>
        <OlderButton list={list} label="Older incidents" noun="incidents" rest="GET /v1/incidents" />
      </section>
    </>
  );
}

function localToRfc3339(text: string): string | undefined {
  const ms = Date.parse(text);
  return text === '' || Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function OpenIncident() {
  const api = useApi();
  const campaigns = usePaged(campaignPage(api), null, [api]);
  const [title, setTitle] = useState('');
  const [campaign_ids, setCampaignIds] = useState<string[]>([]);
  const [merchants, setMerchants] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [actions, setActions] = useState<IncidentAction[]>(['pause_campaigns', 'freeze_redemptions']);
  const [confirming, setConfirming] = useState(false);
  // The opening's Idempotency-Key, kept until its answer arrives and only for the same request: a
  // retry after a lost answer replays the incident opened, not a second one over the same scope.
  const pending = useRef<{ key: string; body: string } | null>(null);
  const toggle = <T,>(list: T[], item: T, on: boolean) => (on ? [...list, item] : list.filter((x) => x !== item));
  const merchant_ids = merchants.split(/[\s,]+/).filter((m) => m.length > 0);
  const body = {
    title: title.trim(),
    scope: {
      ...(campaign_ids.length > 0 ? { campaign_ids } : {}),
      ...(merchant_ids.length > 0 ? { merchant_ids } : {}),
      ...(localToRfc3339(from) ? { from: localToRfc3339(from) } : {}),
      ...(localToRfc3339(to) ? { to: localToRfc3339(to) } : {}),
    },
    actions,
  };
  const ready = body.title !== '' && actions.length > 0 && (campaign_ids.length > 0 || merchant_ids.length > 0);
  return (
    <section aria-labelledby="open-title" class="card">
      <h2 id="open-title">Open an incident</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) setConfirming(true);
        }}
      >
        <div class="field">
          <label for="incident-title">Title</label>
          <input
            id="incident-title"
            required
            // The API allows 200 characters (code points); maxLength counts UTF-16 units, so twice that.
            maxLength={400}
            value={title}
            onInput={(e) => setTitle(e.currentTarget.value)}
          />
        </div>
        <fieldset class="checks">
          <legend>Campaigns in scope</legend>
          <ErrorText error={campaigns.error} prefix="The campaigns could not be read:" />
          {campaigns.loading && campaigns.data === null ? <p aria-busy="true">Loading campaigns…</p> : null}
          {campaigns.data?.data.map((c) => (
            <label key={c.id} class="check">
              <input
                type="checkbox"
                checked={campaign_ids.includes(c.id)}
                onChange={(e) => setCampaignIds(toggle(campaign_ids, c.id, e.currentTarget.checked))}
              />
              {c.name} ({c.status})
            </label>
          ))}
          <OlderButton list={campaigns} label="Older campaigns" noun="campaigns" rest="GET /v1/campaigns" />
        </fieldset>
        <div class="field">
          <label for="incident-merchants">Merchants in scope (comma-separated, optional)</label>
          <input id="incident-merchants" value={merchants} onInput={(e) => setMerchants(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="incident-from">Redemptions from (your local time, optional)</label>
          <input
            id="incident-from"
            type="datetime-local"
            value={from}
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="incident-to">Redemptions until (your local time, optional)</label>
          <input id="incident-to" type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </div>
        <fieldset class="checks">
          <legend>Actions</legend>
          {(Object.keys(actionLabel) as IncidentAction[]).map((a) => (
            <label key={a} class="check">
              <input
                type="checkbox"
                checked={actions.includes(a)}
                onChange={(e) => setActions(toggle(actions, a, e.currentTarget.checked))}
              />
              {actionLabel[a]}
            </label>
          ))}
        </fieldset>
        <p class="hint">Pick at least one campaign or merchant, and at least one action.</p>
        <button type="submit" class="danger" disabled={!ready}>
          Open incident
        </button>
      </form>
      {confirming ? (
        <ConfirmDialog
          title="Open this incident?"
          description={
            <ul>
              {actions.map((a) => (
                <li key={a}>{actionLabel[a]}</li>
              ))}
            </ul>
          }
          confirm_label="Open incident now"
          danger
          run={async () => {
            const sent = JSON.stringify(body);
            if (pending.current?.body !== sent) pending.current = { key: newIdempotencyKey('incident'), body: sent };
            const header = { 'idempotency-key': pending.current.key };
            const opened = await ok(api.POST('/v1/incidents', { params: { header }, body }));
            pending.current = null;
            navigate(`/incidents/${encodeURIComponent(opened.id)}`);
          }}
          onClose={() => setConfirming(false)}
        />
      ) : null}
    </section>
  );
}
