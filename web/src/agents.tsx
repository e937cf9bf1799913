import { useState } from 'preact/hooks';
import {
  api,
  Async,
  can,
  Dialog,
  ErrorText,
  Field,
  getSession,
  Link,
  navigate,
  Pager,
  SecretDialog,
  Table,
  useAction,
  useLoad,
  when,
  type Schemas,
} from './lib';
import { RunsScreen } from './runs';
import { Triggers } from './triggers';

type Agent = Schemas['Agent'];
type Provider = { kind: 'echo'; delay_ms?: number } | { kind: 'openai'; base_url: string; model: string; api_key_env?: string } | { kind: 'http'; url: string; timeout_seconds?: number };

export function AgentsScreen() {
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const agents = useLoad(() => api.GET('/v1/agents', { params: { query: { page, limit: 25 } } }), [page]);
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      {can('agents:write') && !getSession()?.agentId && (
        <div class="toolbar">
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New agent
          </button>
        </div>
      )}
      <Dialog title="New agent" open={creating} onClose={() => setCreating(false)}>
        <AgentForm
          onSaved={(agent) => {
            setCreating(false);
            navigate(`/agents/${agent.id}`);
          }}
        />
      </Dialog>
      <Async state={agents} what="agents" empty={(d) => d.data.length === 0} emptyText="No agents yet. Create one to get a token URL.">
        {(d) => (
          <>
            <Table label="Agents">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Callback URLs</th>
                  <th scope="col">Run timeout</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {d.data.map((a) => (
                  <tr key={a.id}>
                    <td>
                      <Link href={`/agents/${a.id}`}>{a.name}</Link>
                    </td>
                    <td>{String((a.provider as { kind?: string }).kind ?? '')}</td>
                    <td>{a.allow_callback_urls ? 'allowed' : 'off'}</td>
                    <td>{a.run_timeout_seconds} s</td>
                    <td>{when(a.created_at)}</td>
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

function AgentForm(props: { agent?: Agent; onSaved: (agent: Agent) => void }) {
  const provider0 = (props.agent?.provider ?? { kind: 'echo' }) as Record<string, unknown>;
  const [name, setName] = useState(props.agent?.name ?? '');
  const [instructions, setInstructions] = useState(props.agent?.instructions ?? '');
  const [kind, setKind] = useState(String(provider0.kind ?? 'echo'));
  const [delay, setDelay] = useState(String(provider0.delay_ms ?? ''));
  const [baseUrl, setBaseUrl] = useState(String(provider0.base_url ?? ''));
  const [model, setModel] = useState(String(provider0.model ?? ''));
  const [keyEnv, setKeyEnv] = useState(String(provider0.api_key_env ?? ''));
  const [url, setUrl] = useState(String(provider0.url ?? ''));
  const [callbacks, setCallbacks] = useState(props.agent?.allow_callback_urls ?? false);
  const [timeout, setTimeoutValue] = useState(String(props.agent?.run_timeout_seconds ?? ''));
  const action = useAction();
  const provider = (): Provider =>
    kind === 'openai'
      ? { kind: 'openai', base_url: baseUrl, model, ...(keyEnv ? { api_key_env: keyEnv } : {}) }
      : kind === 'http'
        ? { kind: 'http', url }
        : { kind: 'echo', ...(delay ? { delay_ms: Number(delay) } : {}) };
  return (
    <form
      class="form"
      onSubmit={async (e) => {
        e.preventDefault();
        const body = { name, instructions, provider: provider(), allow_callback_urls: callbacks, ...(timeout ? { run_timeout_seconds: Number(timeout) } : {}) };
        const saved = props.agent
          ? await action.run(() => api.PATCH('/v1/agents/{id}', { params: { path: { id: props.agent!.id } }, body }))
          : await action.run(() => api.POST('/v1/agents', { body }));
        if (saved) props.onSaved(saved);
      }}
    >
      <Field label="Name">
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={200} />
      </Field>
      <Field label="Instructions">
        <textarea rows={4} value={instructions} onInput={(e) => setInstructions(e.currentTarget.value)} />
      </Field>
      <Field label="Provider">
        <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
          <option value="echo">Echo (answers with the message)</option>
          <option value="openai">OpenAI-compatible</option>
          <option value="http">HTTP (your own service)</option>
        </select>
      </Field>
      {kind === 'echo' && (
        <Field label="Echo delay (ms)" hint="Optional: makes the echo agent take its time">
          <input type="number" min={0} value={delay} onInput={(e) => setDelay(e.currentTarget.value)} />
        </Field>
      )}
      {kind === 'openai' && (
        <>
          <Field label="Base URL">
            <input type="url" value={baseUrl} onInput={(e) => setBaseUrl(e.currentTarget.value)} required />
          </Field>
          <Field label="Model">
            <input value={model} onInput={(e) => setModel(e.currentTarget.value)} required />
          </Field>
          <Field label="API key environment variable" hint="The worker reads the vendor key from this variable">
            <input value={keyEnv} onInput={(e) => setKeyEnv(e.currentTarget.value)} />
          </Field>
        </>
      )}
      {kind === 'http' && (
        <Field label="Service URL">
          <input type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} required />
        </Field>
      )}
      <label class="check">
        <input type="checkbox" checked={callbacks} onChange={(e) => setCallbacks(e.currentTarget.checked)} />
        Allow callback URLs
      </label>
      <Field label="Run timeout (seconds)">
        <input type="number" min={1} value={timeout} onInput={(e) => setTimeoutValue(e.currentTarget.value)} />
      </Field>
      <ErrorText error={action.error} />
      <button type="submit" class="primary" disabled={action.busy}>
        {props.agent ? 'Save agent' : 'Create agent'}
      </button>
    </form>
  );
}

export function AgentPage(props: { id: string }) {
  const agent = useLoad(() => api.GET('/v1/agents/{id}', { params: { path: { id: props.id } } }), [props.id]);
  const [editing, setEditing] = useState(false);
  const remove = useAction();
  return (
    <section aria-labelledby="agent-title">
      {!getSession()?.agentId && (
        <p>
          <Link href="/agents">← Agents</Link>
        </p>
      )}
      <Async state={agent} what="the agent">
        {(a) => (
          <>
            <h1 id="agent-title">{a.name}</h1>
            <div class="toolbar">
              {can('agents:write') && (
                <button type="button" onClick={() => setEditing(true)}>
                  Edit agent
                </button>
              )}
              {can('agents:write') && !getSession()?.agentId && (
                <button
                  type="button"
                  class="danger"
                  onClick={async () => {
                    if (!confirm(`Delete the agent “${a.name}”? Its token URLs stop working.`)) return;
                    if (await remove.run(() => api.DELETE('/v1/agents/{id}', { params: { path: { id: a.id } } }))) navigate('/agents');
                  }}
                >
                  Delete agent
                </button>
              )}
            </div>
            <ErrorText error={remove.error} />
            <Dialog title="Edit agent" open={editing} onClose={() => setEditing(false)}>
              <AgentForm
                agent={a}
                onSaved={() => {
                  setEditing(false);
                  agent.reload();
                }}
              />
            </Dialog>
            <dl class="facts">
              <dt>ID</dt>
              <dd>
                <code>{a.id}</code>
              </dd>
              <dt>Provider</dt>
              <dd>{String((a.provider as { kind?: string }).kind ?? '')}</dd>
              <dt>Callback URLs</dt>
              <dd>{a.allow_callback_urls ? 'allowed' : 'off'}</dd>
              <dt>Run timeout</dt>
              <dd>{a.run_timeout_seconds} s</dd>
              <dt>Instructions</dt>
              <dd>
                <pre class="text">{a.instructions || '—'}</pre>
              </dd>
            </dl>
            {can('webhooks:read') && <TokenUrls agentId={a.id} />}
            {can('agents:read') && <Triggers agentId={a.id} />}
            {can('agents:read') && <Tasks agentId={a.id} />}
            {can('runs:read') && <RunsScreen agentId={a.id} />}
          </>
        )}
      </Async>
    </section>
  );
}

function curlFor(url: string): string {
  return `curl -X POST '${url}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{"message": "Hello, agent!"}'`;
}

function TokenUrls(props: { agentId: string }) {
  const [page, setPage] = useState(1);
  const hooks = useLoad(() => api.GET('/v1/agents/{id}/webhooks', { params: { path: { id: props.agentId }, query: { page, limit: 25 } } }), [props.agentId, page]);
  const [shown, setShown] = useState<{ token: string; url: string } | null>(null);
  const [name, setName] = useState('');
  const [rate, setRate] = useState('');
  const action = useAction();
  const writable = can('webhooks:write');
  return (
    <section aria-labelledby="hooks-title">
      <h2 id="hooks-title">Token URLs</h2>
      <p class="muted">Anyone holding a token URL can start a run of this agent with a plain POST.</p>
      {writable && (
        <form
          class="inline-form"
          aria-label="New token URL"
          onSubmit={async (e) => {
            e.preventDefault();
            const created = await action.run(() =>
              api.POST('/v1/agents/{id}/webhooks', { params: { path: { id: props.agentId } }, body: { name, ...(rate ? { rate_limit_per_minute: Number(rate) } : {}) } }),
            );
            if (created) {
              setName('');
              setRate('');
              setShown({ token: created.token, url: created.webhook_url });
              hooks.reload();
            }
          }}
        >
          <Field label="Token URL name">
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          </Field>
          <Field label="Rate limit per minute">
            <input type="number" min={1} value={rate} onInput={(e) => setRate(e.currentTarget.value)} placeholder="default" />
          </Field>
          <button type="submit" class="primary" disabled={action.busy}>
            Create token URL
          </button>
        </form>
      )}
      <ErrorText error={action.error} />
      <SecretDialog title="Token URL created" label="Token URL" secret={shown ? shown.url : null} curl={shown ? curlFor(shown.url) : undefined} note="This URL contains the token: copy it now, it will not be shown again." onClose={() => setShown(null)} />
      <Async state={hooks} what="token URLs" empty={(d) => d.data.length === 0} emptyText="No token URLs yet.">
        {(d) => (
          <>
            <Table label="Token URLs">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Token</th>
                  <th scope="col">State</th>
                  <th scope="col">Rate limit</th>
                  <th scope="col">Last used</th>
                  {writable && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {d.data.map((h) => (
                  <tr key={h.id}>
                    <td>{h.name}</td>
                    <td>
                      <code>{h.token_prefix}</code>
                    </td>
                    <td>{h.is_active ? 'active' : 'paused'}</td>
                    <td>
                      {writable ? (
                        <RateEditor hook={h} onSaved={hooks.reload} run={action.run} />
                      ) : (
                        `${h.rate_limit_per_minute}/min`
                      )}
                    </td>
                    <td>{when(h.last_used_at)}</td>
                    {writable && (
                      <td class="row-actions">
                        <button
                          type="button"
                          aria-label={`${h.is_active ? 'Pause' : 'Resume'} ${h.name}`}
                          onClick={async () => {
                            if (await action.run(() => api.PATCH('/v1/webhooks/{id}', { params: { path: { id: h.id } }, body: { is_active: !h.is_active } }))) hooks.reload();
                          }}
                        >
                          {h.is_active ? 'Pause' : 'Resume'}
                        </button>
                        <button
                          type="button"
                          aria-label={`Regenerate ${h.name}`}
                          onClick={async () => {
                            if (!confirm(`Regenerate the token of “${h.name}”? The current URL stops working at once.`)) return;
                            const created = await action.run(() => api.POST('/v1/webhooks/{id}/regenerate', { params: { path: { id: h.id } } }));
                            if (created) {
                              setShown({ token: created.token, url: created.webhook_url });
                              hooks.reload();
                            }
                          }}
                        >
                          Regenerate
                        </button>
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Delete ${h.name}`}
                          onClick={async () => {
                            if (!confirm(`Delete the token URL “${h.name}”?`)) return;
                            if (await action.run(() => api.DELETE('/v1/webhooks/{id}', { params: { path: { id: h.id } } }))) hooks.reload();
                          }}
                        >
                          Delete
                        </button>
                      </td>
                    )}
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

function RateEditor(props: { hook: Schemas['Webhook']; onSaved: () => void; run: ReturnType<typeof useAction>['run'] }) {
  const [value, setValue] = useState(String(props.hook.rate_limit_per_minute));
  return (
    <form
      class="rate"
      onSubmit={async (e) => {
        e.preventDefault();
        if (await props.run(() => api.PATCH('/v1/webhooks/{id}', { params: { path: { id: props.hook.id } }, body: { rate_limit_per_minute: Number(value) } }))) props.onSaved();
      }}
    >
      <input type="number" min={1} aria-label={`Rate limit per minute of ${props.hook.name}`} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit" aria-label={`Set rate limit of ${props.hook.name}`}>
        Set
      </button>
    </form>
  );
}

function Tasks(props: { agentId: string }) {
  const [page, setPage] = useState(1);
  const tasks = useLoad(() => api.GET('/v1/agents/{id}/tasks', { params: { path: { id: props.agentId }, query: { page, limit: 25 } } }), [props.agentId, page]);
  const [name, setName] = useState('');
  const [instructions, setInstructions] = useState('');
  const [outputType, setOutputType] = useState<'text' | 'json'>('text');
  const action = useAction();
  const writable = can('agents:write');
  return (
    <section aria-labelledby="tasks-title">
      <h2 id="tasks-title">Task definitions</h2>
      {writable && (
        <form
          class="inline-form"
          aria-label="New task definition"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await action.run(() => api.POST('/v1/agents/{id}/tasks', { params: { path: { id: props.agentId } }, body: { name, instructions, output_type: outputType } }))) {
              setName('');
              setInstructions('');
              tasks.reload();
            }
          }}
        >
          <Field label="Task name">
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          </Field>
          <Field label="Task instructions">
            <input value={instructions} onInput={(e) => setInstructions(e.currentTarget.value)} required />
          </Field>
          <Field label="Output">
            <select value={outputType} onChange={(e) => setOutputType(e.currentTarget.value as 'text' | 'json')}>
              <option value="text">Text</option>
              <option value="json">JSON</option>
            </select>
          </Field>
          <button type="submit" disabled={action.busy}>
            Add task
          </button>
        </form>
      )}
      <ErrorText error={action.error} />
      <Async state={tasks} what="task definitions" empty={(d) => d.data.length === 0} emptyText="No task definitions.">
        {(d) => (
          <>
            <Table label="Task definitions">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Instructions</th>
                  <th scope="col">Output</th>
                  {writable && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {d.data.map((t) => (
                  <tr key={t.id}>
                    <td>{t.name}</td>
                    <td>{t.instructions}</td>
                    <td>{t.output_type}</td>
                    {writable && (
                      <td>
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Delete task ${t.name}`}
                          onClick={async () => {
                            if (!confirm(`Delete the task “${t.name}”?`)) return;
                            if (await action.run(() => api.DELETE('/v1/tasks/{id}', { params: { path: { id: t.id } } }))) tasks.reload();
                          }}
                        >
                          Delete
                        </button>
                      </td>
                    )}
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
