import { useEffect, useState } from 'preact/hooks';
import { type AuditDigest, type AuditEntry, type AuditVerify, messageOf, ok } from '../api.ts';
import { ErrorText } from '../components/error-text.tsx';
import { Link } from '../components/link.tsx';
import { useApi } from '../context.ts';
import { count, when } from '../format.ts';
import { useAction } from '../hooks.ts';

const page_size = 50;

/** A batch entry holds a campaign's redemption-level changes; it reads as their actions, counted. */
function summary(e: AuditEntry): string {
  const changes = (e.data as { changes?: unknown } | null)?.changes;
  if (e.action !== 'batch' || !Array.isArray(changes)) return e.action;
  const by = new Map<string, number>();
  for (const c of changes) {
    const action = String((c as { action?: unknown } | null)?.action ?? '?');
    by.set(action, (by.get(action) ?? 0) + 1);
  }
  const parts = [...by].map(([action, n]) => (n === 1 ? action : `${action} ×${count(n)}`));
  return `${count(changes.length)} change${changes.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

/** The audit log, newest first, with a check of every chain and a digest to keep outside the database. */
export function Audit() {
  return (
    <>
      <h1 tabIndex={-1}>Audit log</h1>
      <Chains />
      <Entries />
    </>
  );
}

function Chains() {
  const api = useApi();
  const [verify, setVerify] = useState<AuditVerify | null>(null);
  const [digest, setDigest] = useState<AuditDigest | null>(null);
  const { busy, error, run } = useAction();
  const download = (d: AuditDigest) => {
    const url = URL.createObjectURL(new Blob([`${JSON.stringify(d, null, 2)}\n`], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `vouchsafe-audit-digest-${d.created_at.replace(/[:.]/g, '-')}.json`;
    // In the page while it is clicked, and the URL kept a moment: some browsers start the download later.
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  return (
    <section aria-labelledby="chains-title" class="card">
      <h2 id="chains-title">Chains</h2>
      <p class="hint">
        One hash chain per campaign and one for the platform. A digest records every chain's newest link: keep its value
        outside the database, and <code>vouchsafe verify --digest FILE --expect VALUE</code> later shows any chain
        deleted or rewritten since, even with its hashes redone.
      </p>
      <div class="audit-actions">
        <button
          type="button"
          disabled={busy}
          onClick={() => run(async () => setVerify(await ok(api.GET('/v1/audit/verify'))))}
        >
          Verify every chain
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            run(async () => {
              const d = await ok(api.GET('/v1/audit/digest'));
              setDigest(d);
              download(d);
            })
          }
        >
          Download digest
        </button>
      </div>
      {/* Outside the status region: an alert inside a polite live region is announced twice or not at all. */}
      <ErrorText error={error} />
      <div role="status" class="audit-status" data-testid="audit-status">
        {verify ? (
          <p data-ok={String(verify.ok)} class={verify.ok ? '' : 'error'}>
            {verify.ok
              ? `Every chain verifies: ${count(verify.chains)} chains, ${count(verify.entries)} entries.`
              : `Chain ${verify.bad_chain ?? '?'} is broken ${verify.first_bad_seq ? `at entry ${verify.first_bad_seq}` : '(cut short or gone)'}: run vouchsafe verify for the details.`}
          </p>
        ) : null}
        {digest ? (
          <p>
            Digest <code data-testid="audit-digest">{digest.digest}</code> of {count(digest.chains)} chains, taken{' '}
            {when(digest.created_at)}. Copy this value somewhere the database's writers cannot reach; later,{' '}
            <code>vouchsafe verify --digest FILE --expect VALUE</code> refuses any other file.
          </p>
        ) : null}
      </div>
    </section>
  );
}

function Entries() {
  const api = useApi();
  const [pages, setPages] = useState<AuditEntry[][]>([]);
  const [more, setMore] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const entries = pages.flat();
  const load = async (starting_after?: number) => {
    setLoading(true);
    try {
      const query =
        starting_after === undefined
          ? { limit: page_size }
          : { limit: page_size, starting_after: String(starting_after) };
      const page = await ok(api.GET('/v1/audit', { params: { query } }));
      setPages((ps) => (starting_after === undefined ? [page.data] : [...ps, page.data]));
      setMore(page.has_more);
      setError(null);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setLoading(false);
    }
  };
  // The first page, once per client.
  useEffect(() => {
    void load();
  }, [api]);
  const last = entries[entries.length - 1];
  return (
    <section aria-labelledby="entries-title">
      <h2 id="entries-title">Entries, newest first</h2>
      <button type="button" class="link" onClick={() => load()} disabled={loading}>
        Refresh
      </button>
      <ErrorText error={error} />
      {loading && entries.length === 0 ? <p aria-busy="true">Loading the audit log…</p> : null}
      <ol class="audit-list">
        {entries.map((e) => (
          <li key={e.seq} data-seq={e.seq} data-action={e.action} data-chain={e.chain}>
            <span class="num">#{e.seq}</span> · {when(e.at)} · <strong>{summary(e)}</strong> ·{' '}
            {e.chain === 'platform' ? (
              'platform'
            ) : (
              <Link href={`/campaigns/${encodeURIComponent(e.chain)}`}>{e.chain}</Link>
            )}{' '}
            · {e.actor ?? 'system'}
          </li>
        ))}
      </ol>
      {more && last ? (
        <button type="button" onClick={() => load(last.seq)} disabled={loading}>
          Older entries
        </button>
      ) : null}
    </section>
  );
}
