import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AgentPage, AgentsScreen } from './agents';
import { CreditsBanner, CreditsScreen } from './credits';
import { EndpointPage, EndpointsScreen } from './endpoints';
import { EventPage, EventsScreen } from './events';
import { KeysScreen } from './keys';
import { can, getSession, Link, setSession, takeSignOutReason, useLocation, useSession, whoAmI, type Scope } from './lib';
import { RunPage, RunsScreen } from './runs';
import './style.css';

const NAV: Array<{ href: string; label: string; scope: Scope }> = [
  { href: '/runs', label: 'Runs', scope: 'runs:read' },
  { href: '/agents', label: 'Agents', scope: 'agents:read' },
  { href: '/keys', label: 'API keys', scope: 'keys:read' },
  { href: '/endpoints', label: 'Endpoints', scope: 'endpoints:read' },
  { href: '/events', label: 'Events', scope: 'events:read' },
  { href: '/credits', label: 'Credits', scope: 'credits:read' },
];

/** `#portal=<link token>` from an operator's link: exchanged once, then removed from the URL. */
function takePortalToken(): string | null {
  const match = /(?:^#|&)portal=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(match[1]!);
}
const portalToken = takePortalToken();

function PortalExchange(props: { token: string; onDone: (error: string | null) => void }) {
  useEffect(() => {
    void (async () => {
      const response = await fetch('/v1/portal-sessions/exchange', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: props.token }),
      }).catch(() => null);
      const body = (await response?.json().catch(() => ({}))) as Record<string, unknown> | undefined;
      if (!response?.ok || typeof body?.session_token !== 'string') {
        props.onDone(
          response && [400, 401, 404, 409, 410, 422].includes(response.status)
            ? 'This console link has already been used or has expired. Ask whoever sent it for a new link.'
            : `This console link could not be opened (${response ? `HTTP ${response.status}` : 'network error'}). Try again later.`,
        );
        return;
      }
      setSession({
        token: body.session_token,
        kind: 'portal_session',
        scopes: Array.isArray(body.scopes) ? (body.scopes as Scope[]) : null,
        agentId: typeof body.agent_id === 'string' ? body.agent_id : null,
        name: null,
        expiresAt: typeof body.expires_at === 'string' ? body.expires_at : null,
      });
      props.onDone(null);
    })();
  }, []);
  return (
    <main class="signin" id="main" tabIndex={-1}>
      <h1>Agent Webhooks</h1>
      <p role="status">Opening your console link…</p>
    </main>
  );
}

function SignIn(props: { notice: string | null }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin" id="main" tabIndex={-1}>
      <h1>Agent Webhooks console</h1>
      {props.notice && (
        <p class="notice" role="alert">
          {props.notice}
        </p>
      )}
      <form
        method="post"
        onSubmit={async (e) => {
          e.preventDefault();
          const token = key.trim();
          if (!token) return setError('Enter an API key.');
          setBusy(true);
          setError(null);
          const result = await whoAmI(token).catch(() => ({ ok: false as const, status: 0, detail: 'The API did not answer.' }));
          setBusy(false);
          if (!result.ok) return setError(result.status === 401 ? 'The API does not accept this key.' : result.detail);
          setKey('');
          setSession({ token, kind: 'api_key', scopes: null, agentId: null, name: null, expiresAt: null, ...result.me } as never);
        }}
      >
        <label class="field">
          <span>API key</span>
          <input type="password" name="api-key" autoComplete="off" spellcheck={false} value={key} onInput={(e) => setKey(e.currentTarget.value)} placeholder="awk_…" required />
          <small>Kept in this browser tab only, until you sign out or close it.</small>
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p class="hint">
        <code>npm run dev</code> prints a key for the demo org; an operator can send you a console link instead.
      </p>
    </main>
  );
}

function Screen(props: { path: string }) {
  const parts = props.path.split('/').filter(Boolean);
  const [section, id] = [parts[0] ?? '', parts[1]];
  const session = getSession();
  const first = NAV.find((n) => can(n.scope));
  switch (section) {
    case 'runs':
      return id ? <RunPage id={id} /> : <RunsScreen />;
    case 'agents':
      return id ? <AgentPage id={id} /> : <AgentsScreen />;
    case 'keys':
      return <KeysScreen />;
    case 'endpoints':
      return id ? <EndpointPage id={id} /> : <EndpointsScreen />;
    case 'events':
      return id ? <EventPage id={id} /> : <EventsScreen />;
    case 'credits':
      return <CreditsScreen />;
    case '':
      if (session?.agentId && can('agents:read')) return <AgentPage id={session.agentId} />;
      return first?.href === '/agents' ? <AgentsScreen /> : first?.href === '/keys' ? <KeysScreen /> : first ? <RunsScreen /> : <p>This key has no scope the console can show.</p>;
    default:
      return (
        <>
          <h1>Not found</h1>
          <p>
            Nothing lives at this address. <Link href="/runs">Go to runs</Link>.
          </p>
        </>
      );
  }
}

function Shell() {
  const { path } = useLocation();
  const session = getSession()!;
  const section = `/${path.split('/').filter(Boolean)[0] ?? ''}`;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Agent Webhooks</span>
        <nav aria-label="Sections">
          <ul>
            {NAV.filter((n) => can(n.scope)).map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={section === n.href ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>{session.kind === 'portal_session' ? 'Console link' : session.name ? `Key: ${session.name}` : 'API key'}</span>
          <button type="button" onClick={() => setSession(null, 'You signed out.')}>
            Sign out
          </button>
        </div>
      </header>
      {can('credits:read') && <CreditsBanner />}
      <main id="main" tabIndex={-1}>
        <Screen path={path} />
      </main>
    </>
  );
}

function App() {
  const session = useSession();
  const [portal, setPortal] = useState(portalToken);
  const [notice, setNotice] = useState<string | null>(null);
  if (portal) {
    return (
      <PortalExchange
        token={portal}
        onDone={(error) => {
          setNotice(error);
          setPortal(null);
        }}
      />
    );
  }
  if (!session) return <SignIn notice={takeSignOutReason() ?? notice} />;
  return <Shell />;
}

render(<App />, document.getElementById('app')!);
