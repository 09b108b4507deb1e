import { useState } from 'preact/hooks';
import { ApiError, clientFor, messageOf, ok } from '../api.ts';
import { ErrorText } from '../components/error-text.tsx';

const unreadable =
  'This key is valid but cannot read campaigns: the console needs a key with the read or admin scope (an approver key needs read too, to see the approval queue).';

/** Checks the key with one read before keeping it; `notice` says why the console was signed out, if it did that itself. */
export function SignIn({ onSignIn, notice = null }: { onSignIn: (key: string) => void; notice?: string | null }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (trimmed === '') return;
    setBusy(true);
    setError(null);
    try {
      await ok(clientFor(trimmed).GET('/v1/campaigns', { params: { query: { limit: 1 } } }));
      onSignIn(trimmed);
    } catch (err) {
      // A valid key whose scopes cannot read (checkout, or approver alone): say what the console needs.
      const forbidden = err instanceof ApiError && err.status === 403;
      setError(forbidden ? unreadable : messageOf(err));
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Vouchsafe console</h1>
        <p>Sign in with an API key. It is kept in this tab only and sent as a Bearer token.</p>
        <div class="field">
          <label for="api-key">API key</label>
          <input
            id="api-key"
            name="api-key"
            type="password"
            autoComplete="off"
            spellcheck={false}
            required
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            aria-describedby={error ? 'sign-in-error' : undefined}
          />
        </div>
        <ErrorText error={error} id="sign-in-error" />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
