import { useState } from 'preact/hooks';
import { approveCampaign, type Campaign, isStaleApproval, messageOf } from '../api.ts';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { LintList } from '../components/lint-list.tsx';
import { useApi } from '../context.ts';
import { money } from '../format.ts';
import { OlderButton, usePaged } from '../paging.tsx';
import { campaignPage } from './campaign-list.tsx';

/** Campaigns waiting for a second key: what each risks, and an approve button. */
export function Approvals() {
  const api = useApi();
  const queue = usePaged(campaignPage(api, 'pending_approval'), 5000, [api]);
  return (
    <>
      <h1 tabIndex={-1}>Approvals</h1>
      <p>
        A campaign is approved by a key other than those that made or changed it, and outside their lineage: not a key
        one of them made or rotated, nor the key that made one of them.
      </p>
      <ErrorText error={queue.error} />
      {queue.loading && queue.data === null ? <p aria-busy="true">Loading the queue…</p> : null}
      {queue.data !== null && queue.data.data.length === 0 ? <p>Nothing waits for approval.</p> : null}
      <ul class="approval-list" aria-label="Campaigns pending approval">
        {queue.data?.data.map((c) => (
          <Pending key={c.id} c={c} onDone={queue.reload} />
        ))}
      </ul>
      <OlderButton
        list={queue}
        label="Older pending campaigns"
        noun="pending campaigns"
        rest="GET /v1/campaigns?status=pending_approval"
      />
    </>
  );
}

function Pending({ c, onDone }: { c: Campaign; onDone: () => void }) {
  const api = useApi();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const approve = async () => {
    setBusy(true);
    setError(null);
    try {
      await approveCampaign(api, c);
      // Approved: the button stays busy until the reloaded queue drops this card, so a second click
      // on the card still shown cannot approve again (and be refused for a step already taken).
      onDone();
      return;
    } catch (e) {
      setError(messageOf(e));
      // Changed since this card was drawn: show the new version to review.
      if (isStaleApproval(e)) onDone();
    }
    setBusy(false);
  };
  return (
    <li class="card" data-campaign-id={c.id}>
      <h2>
        <Link href={`/campaigns/${encodeURIComponent(c.id)}`}>{c.name}</Link>
      </h2>
      <p>
        Worst case <strong>{money(c.max_exposure_minor, c.currency)}</strong> of a budget of{' '}
        {money(c.budget_minor, c.currency)}.
      </p>
      <LintList lint={c.lint} />
      <button
        type="button"
        class="primary"
        onClick={approve}
        disabled={busy}
        aria-describedby={error ? `${c.id}-error` : undefined}
      >
        Approve {c.name}
      </button>
      <ErrorText error={error} id={`${c.id}-error`} />
    </li>
  );
}
