import { useState } from 'preact/hooks';
import { AgentSelect, api, Async, can, ErrorText, Field, getSession, Pager, SecretDialog, Table, useAction, useAgents, useLoad, when, type Scope } from './lib';

const ALL_SCOPES: Scope[] = [
  'agents:read',
  'agents:write',
  'keys:read',
  'keys:write',
  'runs:read',
  'runs:write',
  'webhooks:read',
  'webhooks:write',
  'endpoints:read',
  'endpoints:write',
  'events:read',
  'credits:read',
];

export function KeysScreen() {
  const [page, setPage] = useState(1);
  const keys = useLoad(() => api.GET('/v1/api-keys', { params: { query: { page, limit: 25 } } }), [page]);
  const agents = useAgents();
  const [name, setName] = useState('');
  const [agentId, setAgentId] = useState('');
  const [scopes, setScopes] = useState<Set<Scope>>(new Set(['agents:read', 'runs:read', 'runs:write']));
  const [shown, setShown] = useState<string | null>(null);
  const action = useAction();
  const writable = can('keys:write');
  const names = new Map((agents.data ?? []).map((a) => [a.id, a.name]));
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      {writable && (
        <form
          class="form"
          aria-label="New API key"
          onSubmit={async (e) => {
            e.preventDefault();
            const created = await action.run(() =>
              api.POST('/v1/api-keys', { body: { name, scopes: [...scopes], agent_id: agentId || getSession()?.agentId || undefined } }),
            );
            if (created) {
              setName('');
              setShown(created.key);
              keys.reload();
            }
          }}
        >
          <h2>New key</h2>
          <Field label="Key name">
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          </Field>
          <AgentSelect agents={agents.data} value={agentId} onChange={setAgentId} label="Limit to agent" allLabel="Every agent (org-wide)" />
          <fieldset class="scopes">
            <legend>Scopes</legend>
            {ALL_SCOPES.map((s) => (
              <label class="check" key={s}>
                <input
                  type="checkbox"
                  checked={scopes.has(s)}
                  onChange={(e) => {
                    const next = new Set(scopes);
                    if (e.currentTarget.checked) next.add(s);
                    else next.delete(s);
                    setScopes(next);
                  }}
                />
                {s}
              </label>
            ))}
          </fieldset>
          <ErrorText error={action.error} />
          <button type="submit" class="primary" disabled={action.busy || scopes.size === 0}>
            Create key
          </button>
        </form>
      )}
      <SecretDialog title="API key created" label="API key" secret={shown} onClose={() => setShown(null)} />
      <h2>Keys</h2>
      <Async state={keys} what="API keys" empty={(d) => d.data.length === 0}>
        {(d) => (
          <>
            <Table label="API keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Agent</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                  {writable && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {d.data.map((k) => (
                  <tr key={k.id} data-key-id={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>awk_{k.prefix}…</code>
                    </td>
                    <td>{k.agent_id ? (names.get(k.agent_id) ?? k.agent_id.slice(0, 8)) : 'all'}</td>
                    <td class="scope-list">{k.scopes.join(', ')}</td>
                    <td>{when(k.last_used_at)}</td>
                    <td>{k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active'}</td>
                    {writable && (
                      <td>
                        {!k.revoked_at && (
                          <button
                            type="button"
                            class="danger"
                            aria-label={`Revoke ${k.name}`}
                            onClick={async () => {
                              if (!confirm(`Revoke the key “${k.name}”? Everything using it stops working at once.`)) return;
                              if (await action.run(() => api.DELETE('/v1/api-keys/{id}', { params: { path: { id: k.id } } }))) keys.reload();
                            }}
                          >
                            Revoke
                          </button>
                        )}
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
