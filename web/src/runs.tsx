import { useEffect, useState } from 'preact/hooks';
import { streamRunEvents, type RunStreamEvent } from '../../sdk/index';
import {
  AgentSelect,
  api,
  apiOptions,
  Async,
  can,
  ErrorText,
  Field,
  isoOrUndefined,
  Json,
  Link,
  Pager,
  setQuery,
  StatusPill,
  Table,
  useAction,
  useAgents,
  useLoad,
  useLocation,
  when,
  type Schemas,
} from './lib';

const STATUSES = ['scheduled', 'processing', 'completed', 'failed', 'cancelled', 'timed_out'] as const;
type Status = (typeof STATUSES)[number];

export function RunsScreen(props: { agentId?: string }) {
  const { query } = useLocation();
  const agents = useAgents();
  const agentId = props.agentId ?? query.get('agent') ?? '';
  const status = (query.get('status') ?? '') as Status | '';
  const source = query.get('source') ?? '';
  const after = query.get('after') ?? '';
  const before = query.get('before') ?? '';
  const page = Number(query.get('page') ?? '1') || 1;
  const runs = useLoad(
    async () => {
      const r = await api.GET('/v1/runs', {
        params: {
          query: {
            page,
            limit: 25,
            agent_id: agentId || undefined,
            status: status || undefined,
            created_after: isoOrUndefined(after),
            created_before: isoOrUndefined(before),
          },
        },
      });
      return r;
    },
    [agentId, status, after, before, page],
    2000,
  );
  const names = new Map((agents.data ?? []).map((a) => [a.id, a.name]));
  return (
    <section aria-labelledby="runs-title">
      {!props.agentId && <h1 id="runs-title">Runs</h1>}
      {props.agentId && <h2 id="runs-title">Runs</h2>}
      <form class="filters" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        {!props.agentId && <AgentSelect agents={agents.data} value={agentId} onChange={(v) => setQuery({ agent: v, page: undefined })} />}
        <Field label="Status">
          <select value={status} onChange={(e) => setQuery({ status: e.currentTarget.value, page: undefined })}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option value={s} key={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Source" hint="Filters the page shown">
          <select value={source} onChange={(e) => setQuery({ source: e.currentTarget.value })}>
            <option value="">Any source</option>
            <option value="api">API</option>
            <option value="webhook">Token URL</option>
            <option value="trigger">Trigger</option>
            <option value="schedule">Schedule</option>
          </select>
        </Field>
        <Field label="Created after">
          <input type="datetime-local" value={after} onChange={(e) => setQuery({ after: e.currentTarget.value, page: undefined })} />
        </Field>
        <Field label="Created before">
          <input type="datetime-local" value={before} onChange={(e) => setQuery({ before: e.currentTarget.value, page: undefined })} />
        </Field>
      </form>
      <p class="live" aria-live="off">
        Refreshes every 2 seconds.
      </p>
      <Async state={runs} what="runs" empty={(d) => d.data.length === 0} emptyText="No runs match. Start one by calling a token URL or POST /v1/agents/{id}/runs.">
        {(d) => {
          const rows = source ? d.data.filter((r) => r.source === source) : d.data;
          return (
            <>
              <Table label="Runs">
                <thead>
                  <tr>
                    <th scope="col">Run</th>
                    <th scope="col">Agent</th>
                    <th scope="col">Status</th>
                    <th scope="col">Source</th>
                    <th scope="col">Created</th>
                    <th scope="col">Credits</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.run_id} data-run-id={r.run_id}>
                      <td>
                        <Link href={`/runs/${r.run_id}`}>{r.subject ?? r.run_id.slice(0, 8)}</Link>
                      </td>
                      <td>{names.get(r.agent_id) ?? r.agent_id.slice(0, 8)}</td>
                      <td>
                        <StatusPill status={r.status} />
                      </td>
                      <td>{r.source}</td>
                      <td>{when(r.created_at)}</td>
                      <td>{r.credits_used}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
              <Pager pagination={d.pagination} onPage={(p) => setQuery({ page: String(p) })} />
            </>
          );
        }}
      </Async>
    </section>
  );
}

export function RunPage(props: { id: string }) {
  const run = useLoad(() => api.GET('/v1/runs/{id}', { params: { path: { id: props.id } } }), [props.id]);
  const [events, setEvents] = useState<RunStreamEvent[]>([]);
  const [streamState, setStreamState] = useState<'idle' | 'live' | 'ended' | 'error'>('idle');
  const processing = run.data?.status === 'processing' || run.data?.status === 'scheduled';
  const cancel = useAction();

  useEffect(() => {
    if (!run.data) return;
    const controller = new AbortController();
    setEvents([]);
    setStreamState('live');
    streamRunEvents(apiOptions, props.id, (event) => {
      setEvents((list) => (list.some((e) => e.sequence !== undefined && e.sequence === event.sequence) ? list : [...list, event]));
      if (/^run_(completed|failed|cancelled|timed_out)$/.test(event.event_type)) run.reload();
    }, { signal: controller.signal })
      .then(() => {
        setStreamState('ended');
        run.reload();
      })
      .catch(() => !controller.signal.aborted && setStreamState('error'));
    return () => controller.abort();
  }, [props.id, run.data === undefined]);

  return (
    <section aria-labelledby="run-title">
      <p>
        <Link href="/runs">← Runs</Link>
      </p>
      <Async state={run} what="the run">
        {(r) => (
          <>
            <h1 id="run-title">
              Run <code>{r.run_id}</code>
            </h1>
            <div class="toolbar">
              <StatusPill status={r.status} />
              {processing && can('runs:write') && (
                <button
                  type="button"
                  class="danger"
                  disabled={cancel.busy}
                  onClick={async () => {
                    if (await cancel.run(() => api.POST('/v1/runs/{id}/cancel', { params: { path: { id: r.run_id } } }))) run.reload();
                  }}
                >
                  Cancel run
                </button>
              )}
              {r.links.temporal_ui && (
                <a href={r.links.temporal_ui} target="_blank" rel="noopener noreferrer">
                  Open in Temporal Web UI
                </a>
              )}
            </div>
            <ErrorText error={cancel.error} />
            <dl class="facts">
              <dt>Agent</dt>
              <dd>
                <Link href={`/agents/${r.agent_id}`}>{r.agent_id}</Link>
              </dd>
              <dt>Source</dt>
              <dd>{r.source}</dd>
              <dt>Created</dt>
              <dd>{when(r.created_at)}</dd>
              <dt>Completed</dt>
              <dd>{when(r.completed_at)}</dd>
              <dt>Usage</dt>
              <dd>
                {r.usage.input_tokens ?? '—'} input tokens, {r.usage.output_tokens ?? '—'} output tokens
              </dd>
              <dt>Credits</dt>
              <dd>{r.credits_used}</dd>
              {r.status_detail && (
                <>
                  <dt>Detail</dt>
                  <dd>{r.status_detail}</dd>
                </>
              )}
            </dl>
            <h2>Result</h2>
            {r.result !== null ? <pre class="text" data-testid="run-result">{r.result}</pre> : <p class="empty">{r.status === 'processing' ? 'The agent is still working.' : r.status === 'scheduled' ? `Starts at ${r.run_at ?? 'its run_at'}.` : 'No result.'}</p>}
            {r.error && (
              <>
                <h2>Error</h2>
                <pre class="text error-text">{r.error}</pre>
              </>
            )}
            {r.conversation_id && can('runs:read') && <Conversation id={r.conversation_id} />}
            <h2>Events</h2>
            <p class="stream-state" role="status">
              {streamState === 'live' ? 'Live: following the run…' : streamState === 'error' ? 'The live stream broke off; reload to resume.' : 'Stream ended.'}
            </p>
            {events.length === 0 ? (
              <p class="empty">No events yet.</p>
            ) : (
              <ol class="events">
                {events.map((e, i) => (
                  <li key={e.sequence ?? i}>
                    <strong>{e.event_type}</strong> <span class="muted">{when(e.created_at)}</span>
                    {e.payload !== undefined && <Json value={e.payload} label={`Payload of event ${e.event_type}`} />}
                  </li>
                ))}
              </ol>
            )}
            <h2>Context and metadata</h2>
            <Json value={{ context: r.context, metadata: r.metadata, callback_url: r.callback_url }} label="Run context and metadata" />
          </>
        )}
      </Async>
    </section>
  );
}

function Conversation(props: { id: string }) {
  const conversation = useLoad(() => api.GET('/v1/conversations/{id}', { params: { path: { id: props.id } } }), [props.id]);
  return (
    <>
      <h2>Conversation</h2>
      <Async state={conversation} what="the conversation" empty={(c) => c.messages.length === 0} emptyText="No messages.">
        {(c: Schemas['Conversation']) => (
          <ol class="conversation">
            {c.messages.map((m) => (
              <li key={m.id} class={`msg msg-${m.role}`}>
                <span class="role">{m.role === 'user' ? 'User' : 'Agent'}</span>
                <pre class="text">{m.content}</pre>
              </li>
            ))}
          </ol>
        )}
      </Async>
    </>
  );
}
