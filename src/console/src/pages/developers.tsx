import { useState } from 'preact/hooks';
import { type ApiKey, type ApiScope, type Delivery, holdSignOut, ok, type Webhook, type WebhookEvent } from '../api.ts';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { useApi, useSwitchKey } from '../context.ts';
import { when } from '../format.ts';
import { useAction, usePoll } from '../hooks.ts';

const scopeLabel: Record<ApiScope, string> = {
  admin: 'admin: everything',
  approver: 'approver: approve campaigns',
  checkout: 'checkout: claims, validations, redemptions, grabs',
  read: 'read: every GET',
};

/** Every event type a webhook can name (typed against the API's own list, so a new one fails the build here). */
const eventLabel: Record<WebhookEvent, string> = {
  'campaign.activated': 'a campaign goes live',
  'campaign.paused': 'a campaign is paused',
  'redemption.confirmed': 'a redemption is confirmed',
  'redemption.reversed': 'a redemption is reversed',
  'redemption.frozen': 'an incident freezes a redemption',
  'alert.raised': 'the detector raises an alert',
  'incident.opened': 'an incident is opened',
  'incident.resolved': 'an incident is resolved',
  'red_envelope.grabbed': 'a red envelope packet is grabbed',
  'audit.digest': 'serve takes its periodic audit digest (its value, to keep outside the database)',
};

/** API keys and webhooks: what integrations need, with each secret shown once, as the API shows it. */
export function Developers() {
  return (
    <>
      <h1 tabIndex={-1}>Developers</h1>
      <ApiKeys />
      <Webhooks />
    </>
  );
}

/** A secret the API shows only once: displayed until dismissed, with a copy button. */
function OneTimeSecret({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <div class="card one-time-secret" role="status">
      <p>
        <strong>{label}</strong>: <code data-testid="one-time-secret">{value}</code>
      </p>
      <p class="hint">Copy it now: it is not stored in readable form and is never shown again.</p>
      <div class="audit-actions">
        <button
          type="button"
          onClick={() =>
            navigator.clipboard.writeText(value).then(
              () => setCopied('Copied.'),
              () => setCopied('Copying was refused: select the text and copy it by hand.'),
            )
          }
        >
          Copy
        </button>
        <button type="button" class="link" onClick={onDone}>
          I have stored it
        </button>
        {copied ? <span>{copied}</span> : null}
      </div>
    </div>
  );
}

type KeyAction = { kind: 'revoke' | 'rotate'; key: ApiKey };

function ApiKeys() {
  const api = useApi();
  const switchKey = useSwitchKey();
  const list = usePoll(() => ok(api.GET('/v1/api-keys', { params: { query: { limit: 100 } } })), null, [api]);
  // The key this console is signed in with: rotating it switches the console to the new one.
  const me = usePoll(() => ok(api.GET('/v1/api-keys/current')), null, [api]);
  const mine = (k: ApiKey) => me.data?.id === k.id;
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<ApiScope[]>(['read']);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const { busy, error, run } = useAction();
  const [acting, setActing] = useState<KeyAction | null>(null);
  const ready = name.trim() !== '' && scopes.length > 0 && !busy;
  const create = () =>
    run(async () => {
      const made = await ok(api.POST('/v1/api-keys', { body: { name: name.trim(), scopes } }));
      setSecret({ label: `New key ${made.name} (${made.id})`, value: made.key });
      setName('');
      list.reload();
    });
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p class="hint">
        Keys are stored as hashes: a key is shown only when it is made (or rotated). Revoking one stops it at once.
      </p>
      <form
        class="card"
        aria-label="Create an API key"
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) void create();
        }}
      >
        <div class="field">
          <label for="key-name">Key name</label>
          <input id="key-name" required maxLength={256} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <fieldset class="checks">
          <legend>Scopes</legend>
          {(Object.keys(scopeLabel) as ApiScope[]).map((s) => (
            <label key={s} class="check">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              {scopeLabel[s]}
            </label>
          ))}
        </fieldset>
        <button type="submit" class="button primary" disabled={!ready}>
          Create key
        </button>
        <ErrorText error={error} />
      </form>
      {secret ? <OneTimeSecret label={secret.label} value={secret.value} onDone={() => setSecret(null)} /> : null}
      <ErrorText error={list.error} />
      {list.loading && list.data === null ? <p aria-busy="true">Loading API keys…</p> : null}
      <ul class="audit-list" aria-label="API keys">
        {list.data?.data.map((k) => (
          <li key={k.id} data-key-id={k.id} data-revoked={String(k.revoked_at !== null)}>
            <strong>{k.name}</strong> · <code>{k.id}</code> · {k.scopes.join(', ')} · made {when(k.created_at)}
            {mine(k) ? <span class="badge"> signed in with this key</span> : null}
            {k.revoked_at !== null ? (
              <> · revoked {when(k.revoked_at)}</>
            ) : (
              <>
                {' '}
                <button type="button" class="link" onClick={() => setActing({ kind: 'rotate', key: k })}>
                  Rotate
                </button>{' '}
                <button type="button" class="link" onClick={() => setActing({ kind: 'revoke', key: k })}>
                  Revoke
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {list.data?.has_more ? (
        <p class="hint">Only the newest 100 keys are shown; vouchsafe keys list shows all.</p>
      ) : null}
      {acting ? (
        <ConfirmDialog
          title={acting.kind === 'revoke' ? `Revoke ${acting.key.name}?` : `Rotate ${acting.key.name}?`}
          description={
            <p>
              {acting.kind === 'revoke'
                ? `Every request with this key is refused (401) from now on.${mine(acting.key) ? ' It is the key this console is signed in with: you will be signed out.' : ''}`
                : `A new key with the same name and scopes is made and shown once; this one is refused (401) from now on.${mine(acting.key) ? ' It is the key this console is signed in with: the console switches to the new one.' : ''}`}
              {acting.kind === 'revoke' && acting.key.scopes.includes('admin')
                ? ' Keep another admin key: without one, only vouchsafe keys create --scope admin on the server can make a new one.'
                : ''}
            </p>
          }
          confirm_label={acting.kind === 'revoke' ? 'Revoke key' : 'Rotate key'}
          danger
          run={async () => {
            const path = { params: { path: { id: acting.key.id } } };
            if (acting.kind === 'revoke') {
              await ok(api.POST('/v1/api-keys/{id}/revoke', path));
              list.reload();
              return;
            }
            // The old key is refused from the moment the rotation commits: a console signed in with it
            // carries on with the new one (the lists reload with it) rather than being signed out with
            // the new secret unseen, so no 401 signs it out until it has switched.
            await holdSignOut(async () => {
              const made = await ok(api.POST('/v1/api-keys/{id}/rotate', path));
              setSecret({ label: `New key ${made.name} (${made.id}), replacing ${made.replaces}`, value: made.key });
              // Which key this console holds was read once; if that read failed, ask with the old key.
              const mine =
                me.data !== null
                  ? me.data.id === made.replaces
                  : (await api.GET('/v1/api-keys/current')).response.status === 401;
              if (mine) switchKey(made.key);
              else list.reload();
            });
          }}
          onClose={() => setActing(null)}
        />
      ) : null}
    </section>
  );
}

function Webhooks() {
  const api = useApi();
  const list = usePoll(() => ok(api.GET('/v1/webhooks', { params: { query: { limit: 100 } } })), null, [api]);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<WebhookEvent[]>([]);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const { busy, error, run } = useAction();
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const ready = url.trim() !== '' && events.length > 0 && !busy;
  const create = () =>
    run(async () => {
      const made = await ok(api.POST('/v1/webhooks', { body: { url: url.trim(), events } }));
      setSecret({ label: `Signing secret of ${made.id}`, value: made.secret });
      setUrl('');
      setEvents([]);
      list.reload();
    });
  return (
    <section aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      <p class="hint">
        Each delivery is signed: <code>Vouchsafe-Signature: t=…,v1=…</code>, an HMAC-SHA256 with the webhook's secret
        over <code>t + "." + body</code>. A webhook receives the events it names from its creation on, at least once.
      </p>
      <form
        class="card"
        aria-label="Create a webhook"
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) void create();
        }}
      >
        <div class="field">
          <label for="webhook-url">Endpoint URL</label>
          <input
            id="webhook-url"
            type="url"
            required
            placeholder="https://example.com/vouchsafe"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </div>
        <fieldset class="checks">
          <legend>Events</legend>
          {(Object.keys(eventLabel) as WebhookEvent[]).map((t) => (
            <label key={t} class="check">
              <input
                type="checkbox"
                checked={events.includes(t)}
                onChange={(e) => setEvents(e.currentTarget.checked ? [...events, t] : events.filter((x) => x !== t))}
              />
              <span>
                <code>{t}</code>: {eventLabel[t]}
              </span>
            </label>
          ))}
        </fieldset>
        <button type="submit" class="button primary" disabled={!ready}>
          Create webhook
        </button>
        <ErrorText error={error} />
      </form>
      {secret ? <OneTimeSecret label={secret.label} value={secret.value} onDone={() => setSecret(null)} /> : null}
      <ErrorText error={list.error} />
      {list.loading && list.data === null ? <p aria-busy="true">Loading webhooks…</p> : null}
      {list.data !== null && list.data.data.length === 0 ? <p>No webhooks.</p> : null}
      <ul class="audit-list" aria-label="Webhooks">
        {list.data?.data.map((w) => (
          <WebhookItem key={w.id} w={w} onDelete={() => setDeleting(w)} />
        ))}
      </ul>
      {deleting ? (
        <ConfirmDialog
          title="Delete this webhook?"
          description={
            <p>
              <code>{deleting.url}</code> gets no new deliveries, and its pending ones are cancelled.
            </p>
          }
          confirm_label="Delete webhook"
          danger
          run={async () => {
            await ok(api.DELETE('/v1/webhooks/{id}', { params: { path: { id: deleting.id } } }));
            list.reload();
          }}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </section>
  );
}

function WebhookItem({ w, onDelete }: { w: Webhook; onDelete: () => void }) {
  const [open, setOpen] = useState(false);
  return (
    <li data-webhook-id={w.id}>
      <code>{w.url}</code> · {w.events.join(', ')} · made {when(w.created_at)}{' '}
      <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Hide deliveries' : 'Deliveries'}
      </button>{' '}
      <button type="button" class="link" onClick={onDelete}>
        Delete
      </button>
      {open ? <Deliveries webhook_id={w.id} /> : null}
    </li>
  );
}

/** The newest deliveries of one webhook, refreshed while shown. */
function Deliveries({ webhook_id }: { webhook_id: string }) {
  const api = useApi();
  const list = usePoll(
    () =>
      ok(
        api.GET('/v1/webhooks/{id}/deliveries', {
          params: { path: { id: webhook_id }, query: { limit: 20 } },
        }),
      ),
    3000,
    [api, webhook_id],
  );
  if (list.error) return <ErrorText error={list.error} />;
  if (list.data === null) return <p aria-busy="true">Loading deliveries…</p>;
  if (list.data.data.length === 0) return <p class="hint">No deliveries yet.</p>;
  return (
    <ol class="deliveries" aria-label={`Deliveries of ${webhook_id}`}>
      {list.data.data.map((d: Delivery) => (
        <li key={d.event_id} data-event-id={d.event_id} data-status={d.status}>
          <code>{d.event_type}</code> · {d.status} after {d.attempt} attempt{d.attempt === 1 ? '' : 's'}
          {d.status_code !== null ? ` · HTTP ${d.status_code}` : ''}
          {d.error ? ` · ${d.error}` : ''}
          {d.next_attempt_at ? ` · next attempt ${when(d.next_attempt_at)}` : ''} · {when(d.created_at)}
        </li>
      ))}
    </ol>
  );
}
