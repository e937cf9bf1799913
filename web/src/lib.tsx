import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { createClient, type Schemas } from '../../sdk/index';

export type { Schemas };
export type Scope = Schemas['ApiKey']['scopes'][number];

// ---------------------------------------------------------------------------------------------
// Session: the key or portal session token lives in sessionStorage (this tab only) and in memory;
// never in a URL, a log or localStorage.

const STORAGE = 'agent-webhooks.console.session';

export interface Session {
  token: string;
  kind: 'api_key' | 'portal_session';
  /** Null while unknown (no /v1/me on this server): everything is shown and the API refuses. */
  scopes: Scope[] | null;
  agentId: string | null;
  name: string | null;
  expiresAt: string | null;
}

let current: Session | null = readStored();
const listeners = new Set<() => void>();
let signOutReason: string | null = null;

function readStored(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function getSession(): Session | null {
  return current;
}

export function setSession(session: Session | null, reason: string | null = null): void {
  current = session;
  signOutReason = reason;
  if (session) sessionStorage.setItem(STORAGE, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE);
  for (const listener of listeners) listener();
}

/** Why the console signed out (revoked key, expired session), shown on the sign-in screen. */
export function takeSignOutReason(): string | null {
  return signOutReason;
}

export function useSession(): Session | null {
  const [, force] = useState(0);
  useEffect(() => {
    const listener = () => force((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return current;
}

export function can(scope: Scope): boolean {
  return !current?.scopes || current.scopes.includes(scope);
}

const unauthorized = () => {
  if (!current) return;
  setSession(
    null,
    current.kind === 'portal_session'
      ? 'Your console session has expired or was revoked. Ask for a new link.'
      : 'The API no longer accepts this key (revoked or deleted). Sign in again.',
  );
};

export const apiOptions = {
  baseUrl: location.origin,
  apiKey: () => current?.token,
  onUnauthorized: unauthorized,
};

/** The typed client (the project's SDK): the console calls only the public /v1 API through it. */
export const api = createClient(apiOptions);

/** `GET /v1/me` (added by the portal-session work); a 404 means this server predates it. */
export async function whoAmI(token: string): Promise<{ ok: true; me: Partial<Session> } | { ok: false; status: number; detail: string }> {
  const headers = { authorization: `Bearer ${token}` };
  const response = await fetch('/v1/me', { headers });
  if (response.status === 404) {
    // A server without /v1/me: any scoped route tells a bad key (401) from a good one (200 or 403).
    const probe = await fetch('/v1/credits?limit=1', { headers });
    if (probe.status === 401) return { ok: false, status: 401, detail: 'The API does not accept this key.' };
    return { ok: true, me: { scopes: null, kind: 'api_key' } };
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) return { ok: false, status: response.status, detail: typeof body.detail === 'string' ? body.detail : `HTTP ${response.status}` };
  return {
    ok: true,
    me: {
      scopes: Array.isArray(body.scopes) ? (body.scopes as Scope[]) : null,
      kind: body.kind === 'portal_session' ? 'portal_session' : 'api_key',
      agentId: typeof body.agent_id === 'string' ? body.agent_id : null,
      name: typeof body.name === 'string' ? body.name : null,
      expiresAt: typeof body.expires_at === 'string' ? body.expires_at : null,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Router: paths under /console/, query string for filters (a link reproduces the view).

const BASE = '/console';
const routeListeners = new Set<() => void>();
window.addEventListener('popstate', () => routeListeners.forEach((l) => l()));

export function navigate(to: string, replace = false): void {
  const url = to.startsWith(BASE) ? to : `${BASE}${to}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  routeListeners.forEach((l) => l());
  if (!replace) document.getElementById('main')?.focus();
}

export function useLocation(): { path: string; query: URLSearchParams } {
  const [, force] = useState(0);
  useEffect(() => {
    const listener = () => force((n) => n + 1);
    routeListeners.add(listener);
    return () => void routeListeners.delete(listener);
  }, []);
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) || '/' : '/';
  return { path, query: new URLSearchParams(location.search) };
}

export function setQuery(values: Record<string, string | undefined>): void {
  const query = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(values)) {
    if (value) query.set(key, value);
    else query.delete(key);
  }
  const search = query.toString();
  navigate(`${location.pathname}${search ? `?${search}` : ''}`, true);
}

export function Link(props: { href: string; children: ComponentChildren; class?: string; 'aria-current'?: 'page' }) {
  const href = `${BASE}${props.href}`;
  return (
    <a
      href={href}
      class={props.class}
      aria-current={props['aria-current']}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {props.children}
    </a>
  );
}

// ---------------------------------------------------------------------------------------------
// Loading: every screen shows loading, error and empty states the same way.

export type Loaded<T> = { loading: boolean; data?: T; error?: string; reload: () => void };

export function problemText(error: unknown): string {
  if (!error) return 'Unknown error';
  if (typeof error === 'string') return error;
  const e = error as { detail?: unknown; title?: unknown; message?: unknown };
  return String(e.detail ?? e.title ?? e.message ?? 'Unknown error');
}

/** Runs `load` now, when `deps` change and on reload(); `pollMs` refreshes it while the tab is visible. */
export function useLoad<T>(load: () => Promise<{ data?: T; error?: unknown; response?: Response }>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [state, setState] = useState<{ loading: boolean; data?: T; error?: string }>({ loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load()
      .then((result) => {
        if (!live) return;
        if (result.error !== undefined || result.data === undefined) setState({ loading: false, error: problemText(result.error ?? 'No answer') });
        else setState({ loading: false, data: result.data });
      })
      .catch((err: unknown) => live && setState({ loading: false, error: problemText(err) }));
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  useEffect(() => {
    if (!pollMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, pollMs);
    return () => clearInterval(timer);
  }, [pollMs, reload]);
  return { ...state, reload };
}

export function Async<T>(props: { state: Loaded<T>; what: string; empty?: (data: T) => boolean; emptyText?: ComponentChildren; children: (data: T) => ComponentChildren }) {
  const { state } = props;
  if (state.error && state.data === undefined)
    return (
      <div class="error" role="alert">
        <p>
          Could not load {props.what}: <span class="detail">{state.error}</span>
        </p>
        <button type="button" onClick={state.reload}>
          Try again
        </button>
      </div>
    );
  if (state.data === undefined)
    return (
      <p class="loading" role="status">
        Loading {props.what}…
      </p>
    );
  if (props.empty?.(state.data)) return <p class="empty">{props.emptyText ?? `No ${props.what} yet.`}</p>;
  return <>{props.children(state.data)}</>;
}

export function Pager(props: { pagination: Schemas['Pagination']; onPage: (page: number) => void }) {
  const { pages, total_capped } = props.pagination;
  // The console pages by number; `page` is null only for cursor reads. Totals are exact up to a cap.
  const page = props.pagination.page ?? 1;
  const total = total_capped ? `${props.pagination.total}+` : String(props.pagination.total);
  if (pages <= 1) return <p class="pager-count">{total} in all</p>;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => props.onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {pages} ({total} in all)
      </span>
      <button type="button" disabled={page >= pages} onClick={() => props.onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/** A horizontally scrollable table that the keyboard can reach. */
export function Table(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      <table>{props.children}</table>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Dialogs: native <dialog> (focus is kept inside; Escape closes).

export function Dialog(props: { title: string; open: boolean; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onClose={props.onClose}>
      {props.open && (
        <>
          <h2 id="dialog-title">{props.title}</h2>
          {props.children}
          <div class="actions">
            <button type="button" onClick={props.onClose}>
              Close
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}

/** A secret shown once: cleared from memory when the dialog closes. */
export function SecretDialog(props: { title: string; secret: string | null; onClose: () => void; note?: string; curl?: string; label?: string }) {
  return (
    <Dialog title={props.title} open={props.secret !== null} onClose={props.onClose}>
      <p>{props.note ?? 'Copy it now: it will not be shown again.'}</p>
      {props.secret !== null && (
        <>
          <Copyable label={props.label ?? 'Secret'} value={props.secret} testId="secret" />
          {props.curl && <Copyable label="Ready-to-paste curl" value={props.curl} testId="curl" />}
        </>
      )}
    </Dialog>
  );
}

export function Copyable(props: { label: string; value: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="copyable">
      <span class="copy-label">{props.label}</span>
      <pre data-testid={props.testId}>{props.value}</pre>
      <button
        type="button"
        aria-label={`${copied ? 'Copied' : 'Copy'} ${props.label.toLowerCase()}`}
        onClick={() =>
          navigator.clipboard?.writeText(props.value).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** Runs an API action; shows its error in an alert. */
export function useAction(): { busy: boolean; error: string | null; run: <T>(fn: () => Promise<{ data?: T; error?: unknown }>) => Promise<T | undefined>; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async <T,>(fn: () => Promise<{ data?: T; error?: unknown }>) => {
    setBusy(true);
    setError(null);
    try {
      const result = await fn();
      if (result.error !== undefined) {
        setError(problemText(result.error));
        return undefined;
      }
      return (result.data ?? (true as unknown as T)) as T;
    } catch (err) {
      setError(problemText(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(null) };
}

export function ErrorText(props: { error: string | null }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {props.error}
    </p>
  );
}

export function Field(props: { label: string; hint?: string; children: JSX.Element }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      {props.children}
      {props.hint && <small>{props.hint}</small>}
    </label>
  );
}

export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

export function Json(props: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={props.label}>
      {JSON.stringify(props.value, null, 2)}
    </pre>
  );
}

export function StatusPill(props: { status: string }) {
  return <span class={`pill pill-${props.status}`}>{props.status.replace('_', ' ')}</span>;
}

/** Agents of the org (first 100), for pickers and names. */
export function useAgents(): Loaded<Schemas['Agent'][]> {
  return useLoad(async () => {
    if (!can('agents:read')) return { data: [] };
    const r = await api.GET('/v1/agents', { params: { query: { limit: 100 } } });
    return { data: r.data?.data, error: r.error };
  }, []);
}

export function AgentSelect(props: { agents: Schemas['Agent'][] | undefined; value: string; onChange: (v: string) => void; label?: string; allLabel?: string }) {
  if (getSession()?.agentId) return null;
  return (
    <Field label={props.label ?? 'Agent'}>
      <select value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{props.allLabel ?? 'All agents'}</option>
        {(props.agents ?? []).map((a) => (
          <option value={a.id} key={a.id}>
            {a.name}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** `datetime-local` value → ISO, or undefined. */
export const isoOrUndefined = (local: string | null): string | undefined => (local ? new Date(local).toISOString() : undefined);
