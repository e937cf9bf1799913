import { useState } from 'preact/hooks';
import { AgentSelect, api, Async, can, ErrorText, Field, isoOrUndefined, Json, Link, Pager, setQuery, StatusPill, Table, useAction, useAgents, useLoad, useLocation, when, type Schemas } from './lib';

export function EventsScreen() {
  const { query } = useLocation();
  const agents = useAgents();
  const catalog = useLoad(() => api.GET('/v1/event-types'), []);
  const type = query.get('type') ?? '';
  const agentId = query.get('agent') ?? '';
  const after = query.get('after') ?? '';
  const before = query.get('before') ?? '';
  const page = Number(query.get('page') ?? '1') || 1;
  const events = useLoad(
    () =>
      api.GET('/v1/events', {
        params: { query: { page, limit: 25, type: type || undefined, agent_id: agentId || undefined, created_after: isoOrUndefined(after), created_before: isoOrUndefined(before) } },
      }),
    [type, agentId, after, before, page],
  );
  return (
    <section aria-labelledby="events-title">
      <h1 id="events-title">Events</h1>
      <form class="filters" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
        <Field label="Type">
          <select value={type} onChange={(e) => setQuery({ type: e.currentTarget.value, page: undefined })}>
            <option value="">Any type</option>
            {(catalog.data?.data ?? []).map((t) => (
              <option value={t.type} key={t.type}>
                {t.type}
              </option>
            ))}
          </select>
        </Field>
        <AgentSelect agents={agents.data} value={agentId} onChange={(v) => setQuery({ agent: v, page: undefined })} />
        <Field label="After">
          <input type="datetime-local" value={after} onChange={(e) => setQuery({ after: e.currentTarget.value, page: undefined })} />
        </Field>
        <Field label="Before">
          <input type="datetime-local" value={before} onChange={(e) => setQuery({ before: e.currentTarget.value, page: undefined })} />
        </Field>
      </form>
      <Async state={events} what="events" empty={(d) => d.data.length === 0} emptyText="No events match. An event is kept when an endpoint subscribes to it (or when the operator keeps this organization's whole event log).">
        {(d) => (
          <>
            <Table label="Events">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">When</th>
                  <th scope="col">Agent</th>
                  <th scope="col">Run</th>
                </tr>
              </thead>
              <tbody>
                {d.data.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <Link href={`/events/${e.id}`}>{e.type}</Link>
                    </td>
                    <td>{when(e.created_at)}</td>
                    <td>{e.agent_id ? <Link href={`/agents/${e.agent_id}`}>{e.agent_id.slice(0, 8)}</Link> : '—'}</td>
                    <td>{e.run_id ? <Link href={`/runs/${e.run_id}`}>{e.run_id.slice(0, 8)}</Link> : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
            <Pager pagination={d.pagination} onPage={(p) => setQuery({ page: String(p) })} />
          </>
        )}
      </Async>
    </section>
  );
}

export function EventPage(props: { id: string }) {
  const event = useLoad(() => api.GET('/v1/events/{id}', { params: { path: { id: props.id } } }), [props.id]);
  return (
    <section aria-labelledby="event-title">
      <p>
        <Link href="/events">← Events</Link>
      </p>
      <Async state={event} what="the event">
        {(e) => (
          <>
            <h1 id="event-title">{e.type}</h1>
            <dl class="facts">
              <dt>ID</dt>
              <dd>
                <code>{e.id}</code>
              </dd>
              <dt>When</dt>
              <dd>{when(e.created_at)}</dd>
              {e.run_id && (
                <>
                  <dt>Run</dt>
                  <dd>
                    <Link href={`/runs/${e.run_id}`}>{e.run_id}</Link>
                  </dd>
                </>
              )}
            </dl>
            <h2>Payload</h2>
            <Json value={e.data} label="Event payload" />
            <h2>Deliveries</h2>
            {e.deliveries.length === 0 ? <p class="empty">No endpoint subscribed to this event.</p> : <DeliveryList deliveries={e.deliveries} onRetried={event.reload} />}
          </>
        )}
      </Async>
    </section>
  );
}

/** An endpoint's deliveries (paged), refreshed every 3 s so retries show up as they happen. */
export function Deliveries(props: { endpointId: string; tick: number }) {
  const [page, setPage] = useState(1);
  const deliveries = useLoad(() => api.GET('/v1/endpoints/{id}/deliveries', { params: { path: { id: props.endpointId }, query: { page, limit: 10 } } }), [props.endpointId, page, props.tick], 3000);
  return (
    <Async state={deliveries} what="deliveries" empty={(d) => d.data.length === 0} emptyText="No deliveries yet: send a test ping or start a run.">
      {(d) => (
        <>
          <DeliveryList deliveries={d.data} onRetried={deliveries.reload} />
          <Pager pagination={d.pagination} onPage={setPage} />
        </>
      )}
    </Async>
  );
}

function DeliveryList(props: { deliveries: Schemas['Delivery'][]; onRetried: () => void }) {
  const action = useAction();
  const [retried, setRetried] = useState<string | null>(null);
  return (
    <>
      <ErrorText error={action.error} />
      {retried && (
        <p role="status" class="ok">
          Retry queued for delivery {retried.slice(0, 8)}.
        </p>
      )}
      <ul class="deliveries">
        {props.deliveries.map((d) => (
          <li key={d.id} class="delivery" data-delivery-id={d.id}>
            <div class="delivery-head">
              <StatusPill status={d.status} />
              <code class="url">{d.url}</code>
              <span class="muted">{when(d.created_at)}</span>
              {d.event_id && <Link href={`/events/${d.event_id}`}>event</Link>}
              {can('endpoints:write') && (
                <button
                  type="button"
                  aria-label={`Retry delivery ${d.id.slice(0, 8)}`}
                  disabled={action.busy}
                  onClick={async () => {
                    if (await action.run(() => api.POST('/v1/deliveries/{id}/retry', { params: { path: { id: d.id } } }))) {
                      setRetried(d.id);
                      props.onRetried();
                    }
                  }}
                >
                  Retry
                </button>
              )}
            </div>
            <Table label={`Attempts of delivery ${d.id.slice(0, 8)}`}>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Started</th>
                  <th scope="col">Status</th>
                  <th scope="col">Latency</th>
                  <th scope="col">Response</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {d.attempts.length === 0 ? (
                  <tr>
                    <td colSpan={6}>No attempt yet.</td>
                  </tr>
                ) : (
                  d.attempts.map((a) => (
                    <tr key={a.attempt} class={a.succeeded ? 'attempt-ok' : 'attempt-failed'}>
                      <td>{a.attempt}</td>
                      <td>{when(a.started_at)}</td>
                      <td>{a.status_code ?? '—'}</td>
                      <td>{a.latency_ms} ms</td>
                      <td>
                        <code class="excerpt">{a.response_excerpt ?? ''}</code>
                      </td>
                      <td>{a.error ?? ''}</td>
                    </tr>
                  ))
                )}
              </tbody>
            </Table>
          </li>
        ))}
      </ul>
    </>
  );
}
