import './styles.css';
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { clientFor, onUnauthenticated, savedKey, saveKey } from './api.ts';
import { EmergencyStop } from './components/emergency-stop.tsx';
import { Link } from './components/link.tsx';
import { ApiContext, SwitchKeyContext } from './context.ts';
import { Approvals } from './pages/approvals.tsx';
import { Audit } from './pages/audit.tsx';
import { CampaignList } from './pages/campaign-list.tsx';
import { CampaignPage } from './pages/campaign-page.tsx';
import { CreateCampaign } from './pages/create-campaign.tsx';
import { Developers } from './pages/developers.tsx';
import { IncidentPage } from './pages/incident-page.tsx';
import { Incidents } from './pages/incidents.tsx';
import { RedEnvelopePage, RedEnvelopes } from './pages/red-envelopes.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { match, usePath } from './router.ts';

const nav = [
  ['/', 'Campaigns'],
  ['/campaigns/new', 'New campaign'],
  ['/approvals', 'Approvals'],
  ['/incidents', 'Incidents'],
  ['/red-envelopes', 'Red envelopes'],
  ['/audit', 'Audit log'],
  ['/developers', 'Developers'],
] as const;

function Page({ path }: { path: string }) {
  if (path === '/' || path === '/campaigns') return <CampaignList />;
  if (path === '/campaigns/new') return <CreateCampaign />;
  if (path === '/approvals') return <Approvals />;
  if (path === '/incidents') return <Incidents />;
  if (path === '/red-envelopes') return <RedEnvelopes />;
  if (path === '/audit') return <Audit />;
  if (path === '/developers') return <Developers />;
  const campaign = match('/campaigns/:id', path);
  if (campaign?.id) return <CampaignPage id={campaign.id} />;
  const incident = match('/incidents/:id', path);
  if (incident?.id) return <IncidentPage id={incident.id} />;
  const envelope = match('/red-envelopes/:id', path);
  if (envelope?.id) return <RedEnvelopePage id={envelope.id} />;
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <p>
        No console page at this address. <Link href="/">Back to the campaigns</Link>.
      </p>
    </>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const path = usePath();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // After in-app navigation, move focus to the new page's heading so screen readers announce it.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Vouchsafe</span>
        <nav aria-label="Console">
          <ul>
            {nav.map(([href, text]) => (
              <li key={href}>
                <Link href={href} current={path === href}>
                  {text}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-actions">
          <EmergencyStop />
          <button type="button" class="link" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}

/** Why the console signed itself out: shown on the sign-in screen, so an action cut short is not taken for done. */
const refused =
  "Signed out: the server refused this console's key (401 unauthenticated): it was revoked or rotated away. The request it refused was not carried out; sign in with a valid key and check what you were doing.";

function App() {
  const [key, setKey] = useState<string | null>(savedKey);
  const [why, setWhy] = useState<string | null>(null);
  const api = useMemo(() => (key === null ? null : clientFor(key)), [key]);
  const signOut = () => {
    saveKey(null);
    setKey(null);
    setWhy(null);
  };
  const switchKey = (next: string) => {
    saveKey(next);
    setKey(next);
  };
  useEffect(
    () =>
      onUnauthenticated(() => {
        saveKey(null);
        setKey(null);
        setWhy(refused);
      }),
    [],
  );
  if (api === null) {
    return (
      <SignIn
        notice={why}
        onSignIn={(k) => {
          saveKey(k);
          setKey(k);
          setWhy(null);
        }}
      />
    );
  }
  return (
    <ApiContext.Provider value={api}>
      <SwitchKeyContext.Provider value={switchKey}>
        <Shell onSignOut={signOut} />
      </SwitchKeyContext.Provider>
    </ApiContext.Provider>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
