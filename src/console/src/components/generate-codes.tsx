import { useEffect, useRef, useState } from 'preact/hooks';
import { type Campaign, newIdempotencyKey, ok, optional } from '../api.ts';
import { useApi } from '../context.ts';
import { count } from '../format.ts';
import { useAction, usePoll } from '../hooks.ts';
import { ErrorText } from './error-text.tsx';

/** POST /v1/campaigns/{id}/codes takes 1 to this many codes a request (limits.codes_per_request_max). */
export const codes_per_request_max = 100_000;
/** How long a generated file stays downloadable here before the console lets go of it. */
const file_kept_ms = 10 * 60_000;

/** A generated set, held only as a Blob URL for its download: the codes are never kept as state. */
interface CodesFile {
  url: string;
  filename: string;
  count: number;
}

/** Whether the signed-in key has the admin scope (GET /v1/api-keys/current); false until known. */
function useIsAdmin(): boolean {
  const api = useApi();
  const me = usePoll(() => optional(api.GET('/v1/api-keys/current')), null, [api]);
  return me.data?.scopes.includes('admin') ?? false;
}

function save(file: CodesFile): void {
  const a = document.createElement('a');
  a.href = file.url;
  a.download = file.filename;
  // In the page while it is clicked: some browsers ignore a click on a detached link.
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * Unique bearer codes for a unique_codes campaign (admin keys only), handed over as a CSV file
 * (`code` header, one code a line, as `vouchsafe codes generate` writes it). Each generation has
 * its own Idempotency-Key: a double click, or a retry after a lost answer, replays the same set
 * instead of making a second one. The key is kept until the set arrives, and only for that count.
 */
export function GenerateCodes({ c }: { c: Campaign }) {
  const admin = useIsAdmin();
  if (!admin || c.code_mode !== 'unique_codes' || c.status === 'ended' || c.status === 'revoked') return null;
  return <CodesForm c={c} />;
}

function CodesForm({ c }: { c: Campaign }) {
  const api = useApi();
  const [wanted, setWanted] = useState('1000');
  const [file, setFile] = useState<CodesFile | null>(null);
  const { busy, error, run } = useAction();
  const pending = useRef<{ key: string; count: number } | null>(null);
  const running = useRef(false);
  const n = Number(wanted);
  const valid = Number.isInteger(n) && n >= 1 && n <= codes_per_request_max;

  // Let go of the file when discarded, replaced, after file_kept_ms, or when leaving the page.
  useEffect(() => {
    if (file === null) return;
    const timer = window.setTimeout(() => setFile(null), file_kept_ms);
    return () => {
      window.clearTimeout(timer);
      URL.revokeObjectURL(file.url);
    };
  }, [file]);

  const generate = async () => {
    // A second click before the first re-render: the request under way is the one.
    if (running.current || !valid) return;
    running.current = true;
    setFile(null);
    // A retry of the same count after a failure keeps its key: the server finishes that set.
    if (pending.current === null || pending.current.count !== n) {
      pending.current = { key: newIdempotencyKey('codes'), count: n };
    }
    const { key } = pending.current;
    try {
      await run(async () => {
        const made = await ok(
          api.POST('/v1/campaigns/{id}/codes', {
            params: { path: { id: c.id }, header: { 'idempotency-key': key } },
            body: { count: n },
          }),
        );
        pending.current = null;
        const blob = new Blob([`code\n${made.codes.join('\n')}\n`], { type: 'text/csv' });
        const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
        const next = {
          url: URL.createObjectURL(blob),
          filename: `codes-${c.id}-${stamp}.csv`,
          count: made.codes.length,
        };
        setFile(next);
        save(next);
      });
    } finally {
      running.current = false;
    }
  };

  return (
    <section class="codes card" aria-labelledby="codes-title">
      <h2 id="codes-title">Unique codes</h2>
      <p class="hint" id="codes-warning">
        Codes are bearer secrets: anyone in the audience who has one can redeem it. They are shown only in the file this
        makes; keep it where only those who hand the codes out can read it.
      </p>
      <form
        class="codes-form"
        onSubmit={(e) => {
          e.preventDefault();
          void generate();
        }}
      >
        <div class="field">
          <label for="codes-count">How many codes</label>
          <input
            id="codes-count"
            type="number"
            inputMode="numeric"
            min={1}
            max={codes_per_request_max}
            step={1}
            required
            value={wanted}
            onInput={(e) => setWanted(e.currentTarget.value)}
            aria-describedby="codes-warning codes-limit"
          />
          <p class="hint" id="codes-limit">
            1 to {count(codes_per_request_max)} at a time. A retry of the same number after a failure finishes the same
            set rather than making another.
          </p>
        </div>
        <button type="submit" class="primary" disabled={busy || !valid}>
          {busy ? 'Generating…' : 'Generate codes'}
        </button>
      </form>
      <ErrorText error={error} prefix="No codes file:" />
      <div role="status">
        {file ? (
          <p data-testid="codes-ready" data-count={file.count}>
            {count(file.count)} codes generated and downloaded as <code>{file.filename}</code>.{' '}
            <a href={file.url} download={file.filename}>
              Download again
            </a>{' '}
            <button type="button" class="link" onClick={() => setFile(null)}>
              Done, forget the file
            </button>
          </p>
        ) : null}
      </div>
    </section>
  );
}
