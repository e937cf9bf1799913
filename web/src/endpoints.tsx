import { useState } from 'preact/hooks';
import { api, Async, can, Dialog, ErrorText, Field, getSession, Link, navigate, Pager, SecretDialog, Table, useAction, useAgents, useLoad, when, type Schemas } from './lib';
import type { paths } from '../../sdk/index';
import { Deliveries } from './events';

type Endpoint = Schemas['Endpoint'];
type EventName = paths['/v1/endpoints']['post']['requestBody']['content']['application/json']['events'][number];

function health(e: Endpoint): string {
  if (!e.enabled) return e.disabled_reason ? `disabled: ${e.disabled_reason}` : 'disabled';
  if (e.health.success_rate_24h === null) return 'no deliveries in 24 h';
  return `${Math.round(e.health.success_rate_24h * 100)}% of ${e.health.deliveries_24h} in 24 h`;
}

export function EndpointsScreen() {
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const endpoints = useLoad(() => api.GET('/v1/endpoints', { params: { query: { page, limit: 25 } } }), [page]);
  return (
    <section aria-labelledby="endpoints-title">
      <h1 id="endpoints-title">Endpoints</h1>
      <p class="muted">Your HTTPS receivers: each gets the events it subscribes to, signed (Standard Webhooks).</p>
      {can('endpoints:write') && (
        <div class="toolbar">
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New endpoint
          </button>
        </div>
      )}
      <Dialog title="New endpoint" open={creating} onClose={() => setCreating(false)}>
        <EndpointForm
          onSaved={(e) => {
            setCreating(false);
            if ('secret' in e && typeof e.secret === 'string') setSecret(e.secret);
            endpoints.reload();
          }}
        />
      </Dialog>
      <SecretDialog title="Endpoint signing secret" secret={secret} onClose={() => setSecret(null)} note="Verify deliveries with this secret. Copy it now: it will not be shown again." />
      <Async state={endpoints} what="endpoints" empty={(d) => d.data.length === 0} emptyText="No endpoints yet.">
        {(d) => (
          <>
            <Table label="Endpoints">
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">Events</th>
                  <th scope="col">Health</th>
                  <th scope="col">Last triggered</th>
                </tr>
              </thead>
              <tbody>
                {d.data.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <Link href={`/endpoints/${e.id}`}>{e.name ?? e.url}</Link>
                      {e.name && <div class="muted small">{e.url}</div>}
                    </td>
                    <td>{e.events.join(', ')}</td>
                    <td>{health(e)}</td>
                    <td>{when(e.last_triggered_at)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
            <Pager pagination={d.pagination} onPage={setPage} />
          </>
        )}
      </Async>
    </section>
  );
}

function EndpointForm(props: { endpoint?: Endpoint; onSaved: (e: Endpoint | Schemas['CreatedEndpoint']) => void }) {
  const e0 = props.endpoint;
  const catalog = useLoad(() => api.GET('/v1/event-types'), []);
  const agents = useAgents();
  const [url, setUrl] = useState(e0?.url ?? '');
  const [name, setName] = useState(e0?.name ?? '');
  const [events, setEvents] = useState<Set<string>>(new Set(e0?.events ?? ['run.completed']));
  const [agentIds, setAgentIds] = useState<Set<string>>(new Set(e0?.agent_ids ?? (getSession()?.agentId ? [getSession()!.agentId!] : [])));
  const [headersTouched, setHeadersTouched] = useState(false);
  const [headers, setHeaders] = useState(Object.entries(e0?.headers ?? {}).map(([k, v]) => `${k}: ${String(v)}`).join('\n'));
  const [verifySsl, setVerifySsl] = useState(e0?.verify_ssl ?? true);
  const [timeout, setTimeoutValue] = useState(String(e0?.timeout_seconds ?? ''));
  const [retries, setRetries] = useState(String(e0?.max_retries ?? ''));
  const action = useAction();
  const toggle = (set: Set<string>, value: string, on: boolean) => {
    const next = new Set(set);
    if (on) next.add(value);
    else next.delete(value);
    return next;
  };
  return (
    <form
      class="form"
      onSubmit={async (ev) => {
        ev.preventDefault();
        const headerMap: Record<string, string> = {};
        for (const line of headers.split('\n')) {
          const at = line.indexOf(':');
          if (at > 0) headerMap[line.slice(0, at).trim()] = line.slice(at + 1).trim();
        }
        const body = {
          url,
          name: name || undefined,
          events: [...events] as EventName[],
          agent_ids: [...agentIds],
          ...(!e0 || headersTouched ? { headers: headerMap } : {}),
          verify_ssl: verifySsl,
          ...(timeout ? { timeout_seconds: Number(timeout) } : {}),
          ...(retries ? { max_retries: Number(retries) } : {}),
        };
        const saved = e0
          ? await action.run(() => api.PATCH('/v1/endpoints/{id}', { params: { path: { id: e0.id } }, body }))
          : await action.run(() => api.POST('/v1/endpoints', { body }));
        if (saved) props.onSaved(saved);
      }}
    >
      <Field label="URL">
        <input type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} required />
      </Field>
      <Field label="Name">
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <fieldset>
        <legend>Events</legend>
        <Async state={catalog} what="the event catalog">
          {(c) => (
            <>
              {c.data.map((t) => (
                <label class="check" key={t.type} title={t.description}>
                  <input type="checkbox" checked={events.has(t.type)} onChange={(e) => setEvents(toggle(events, t.type, e.currentTarget.checked))} />
                  {t.type}
                </label>
              ))}
            </>
          )}
        </Async>
      </fieldset>
      {!getSession()?.agentId && (
        <fieldset>
          <legend>Agents (none = every agent)</legend>
          {(agents.data ?? []).map((a) => (
            <label class="check" key={a.id}>
              <input type="checkbox" checked={agentIds.has(a.id)} onChange={(e) => setAgentIds(toggle(agentIds, a.id, e.currentTarget.checked))} />
              {a.name}
            </label>
          ))}
        </fieldset>
      )}
      <Field label="Custom headers" hint="One per line: Name: value">
        <textarea rows={3} value={headers} onInput={(e) => {
            setHeaders(e.currentTarget.value);
            setHeadersTouched(true);
          }} />
      </Field>
      <label class="check">
        <input type="checkbox" checked={verifySsl} onChange={(e) => setVerifySsl(e.currentTarget.checked)} />
        Verify TLS certificates
      </label>
      <Field label="Timeout (seconds)">
        <input type="number" min={1} value={timeout} onInput={(e) => setTimeoutValue(e.currentTarget.value)} />
      </Field>
      <Field label="Retries">
        <input type="number" min={0} value={retries} onInput={(e) => setRetries(e.currentTarget.value)} />
      </Field>
      <ErrorText error={action.error} />
      <button type="submit" class="primary" disabled={action.busy || events.size === 0}>
        {e0 ? 'Save endpoint' : 'Create endpoint'}
      </button>
    </form>
  );
}

export function EndpointPage(props: { id: string }) {
  const endpoint = useLoad(() => api.GET('/v1/endpoints/{id}', { params: { path: { id: props.id } } }), [props.id], 5000);
  const [editing, setEditing] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [ping, setPing] = useState<Schemas['EndpointTestResult'] | null>(null);
  const [deliveriesTick, setDeliveriesTick] = useState(0);
  const action = useAction();
  const writable = can('endpoints:write');
  return (
    <section aria-labelledby="endpoint-title">
      <p>
        <Link href="/endpoints">← Endpoints</Link>
      </p>
      <Async state={endpoint} what="the endpoint">
        {(e) => (
          <>
            <h1 id="endpoint-title">{e.name ?? e.url}</h1>
            {writable && (
              <div class="toolbar">
                <button type="button" onClick={() => setEditing(true)}>
                  Edit endpoint
                </button>
                <button
                  type="button"
                  onClick={async () => {
                    const result = await action.run(() => api.POST('/v1/endpoints/{id}/test', { params: { path: { id: e.id } } }));
                    if (result) {
                      setPing(result);
                      setDeliveriesTick((n) => n + 1);
                    }
                  }}
                >
                  Send test ping
                </button>
                <button
                  type="button"
                  onClick={async () => {
                    if (await action.run(() => api.PATCH('/v1/endpoints/{id}', { params: { path: { id: e.id } }, body: { enabled: !e.enabled } }))) endpoint.reload();
                  }}
                >
                  {e.enabled ? 'Disable' : 'Enable'}
                </button>
                <button
                  type="button"
                  onClick={async () => {
                    if (!confirm('Rotate the signing secret? The old one stays valid for 24 hours.')) return;
                    const rotated = await action.run(() => api.POST('/v1/endpoints/{id}/rotate-secret', { params: { path: { id: e.id } }, body: { grace_seconds: 86_400 } }));
                    if (rotated) setSecret(rotated.secret);
                  }}
                >
                  Rotate secret
                </button>
                <button
                  type="button"
                  class="danger"
                  onClick={async () => {
                    if (!confirm(`Delete the endpoint ${e.url}?`)) return;
                    if (await action.run(() => api.DELETE('/v1/endpoints/{id}', { params: { path: { id: e.id } } }))) navigate('/endpoints');
                  }}
                >
                  Delete
                </button>
              </div>
            )}
            <ErrorText error={action.error} />
            {ping && (
              <p class={ping.success ? 'ok' : 'error'} role="status" data-testid="ping-result">
                Test ping: {ping.success ? 'delivered' : 'failed'} — HTTP {ping.statusCode ?? '—'} in {ping.latency_ms} ms
                {ping.error ? `: ${ping.error}` : ''}
              </p>
            )}
            <SecretDialog title="New signing secret" secret={secret} onClose={() => setSecret(null)} />
            <Dialog title="Edit endpoint" open={editing} onClose={() => setEditing(false)}>
              <EndpointForm
                endpoint={e}
                onSaved={() => {
                  setEditing(false);
                  endpoint.reload();
                }}
              />
            </Dialog>
            <dl class="facts">
              <dt>URL</dt>
              <dd>
                <code>{e.url}</code>
              </dd>
              <dt>Health</dt>
              <dd>{health(e)}</dd>
              <dt>Consecutive failures</dt>
              <dd>{e.health.consecutive_failures}</dd>
              <dt>Last triggered</dt>
              <dd>{when(e.last_triggered_at)}</dd>
              <dt>Events</dt>
              <dd>{e.events.join(', ')}</dd>
              <dt>Agents</dt>
              <dd>{e.agent_ids.length ? e.agent_ids.join(', ') : 'every agent'}</dd>
              <dt>Custom headers</dt>
              <dd>{Object.keys(e.headers).length ? Object.keys(e.headers).join(', ') : 'none'}</dd>
              <dt>TLS verification</dt>
              <dd>{e.verify_ssl ? 'on' : 'off'}</dd>
              <dt>Timeout / retries</dt>
              <dd>
                {e.timeout_seconds} s / {e.max_retries}
              </dd>
            </dl>
            <h2>Deliveries</h2>
            <Deliveries endpointId={e.id} tick={deliveriesTick} />
          </>
        )}
      </Async>
    </section>
  );
}
