import { useState } from 'preact/hooks';
import { api, Async, can, Copyable, Dialog, ErrorText, Field, Pager, Table, useAction, useLoad, when, type Schemas } from './lib';

type Scheme = Schemas['Trigger']['scheme'];
const SCHEMES: Array<{ value: Scheme; label: string }> = [
  { value: 'none', label: 'None: a secret token URL' },
  { value: 'standard-webhooks', label: 'Standard Webhooks' },
  { value: 'github', label: 'GitHub (X-Hub-Signature-256)' },
  { value: 'stripe', label: 'Stripe (Stripe-Signature)' },
  { value: 'hmac-sha256', label: 'HMAC-SHA256 of the body' },
];

/** Third-party triggers of an agent: GitHub, Stripe, Standard Webhooks or any HMAC sender starts runs. */
export function Triggers(props: { agentId: string }) {
  const [page, setPage] = useState(1);
  const triggers = useLoad(() => api.GET('/v1/agents/{id}/triggers', { params: { path: { id: props.agentId }, query: { page, limit: 25 } } }), [props.agentId, page]);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Schemas['Trigger'] | null>(null);
  const [testing, setTesting] = useState<Schemas['Trigger'] | null>(null);
  const [shown, setShown] = useState<Schemas['TriggerWithSecret'] | null>(null);
  const action = useAction();
  const writable = can('agents:write');
  return (
    <section aria-labelledby="triggers-title">
      <h2 id="triggers-title">Third-party triggers</h2>
      {writable && (
        <div class="toolbar">
          <button type="button" onClick={() => setCreating(true)}>
            New trigger
          </button>
        </div>
      )}
      <ErrorText error={action.error} />
      <Dialog title="New trigger" open={creating} onClose={() => setCreating(false)}>
        <TriggerForm
          agentId={props.agentId}
          onSaved={(t) => {
            setCreating(false);
            if ('secret' in t) setShown(t as Schemas['TriggerWithSecret']);
            triggers.reload();
          }}
        />
      </Dialog>
      <Dialog title="Edit trigger" open={editing !== null} onClose={() => setEditing(null)}>
        {editing && (
          <TriggerForm
            agentId={props.agentId}
            trigger={editing}
            onSaved={() => {
              setEditing(null);
              triggers.reload();
            }}
          />
        )}
      </Dialog>
      <Dialog title="Trigger created" open={shown !== null} onClose={() => setShown(null)}>
        <p>Copy these now: they will not be shown again.</p>
        {shown?.invoke_url && <Copyable label="Invoke URL" value={shown.invoke_url} testId="invoke-url" />}
        {shown?.secret && <Copyable label="Signing secret" value={shown.secret} testId="secret" />}
      </Dialog>
      <Dialog title="Template tester" open={testing !== null} onClose={() => setTesting(null)}>
        {testing && <TemplateTester trigger={testing} />}
      </Dialog>
      <Async state={triggers} what="triggers" empty={(d) => d.data.length === 0} emptyText="No triggers.">
        {(d) => (
          <>
            <Table label="Triggers">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Signature</th>
                  <th scope="col">State</th>
                  <th scope="col">Last invoked</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {d.data.map((t) => (
                  <tr key={t.id}>
                    <td>{t.name}</td>
                    <td>{t.scheme}</td>
                    <td>{t.enabled ? 'enabled' : 'disabled'}</td>
                    <td>{when(t.last_invoked_at)}</td>
                    <td class="row-actions">
                      <button type="button" aria-label={`Test template of ${t.name}`} onClick={() => setTesting(t)}>
                        Test template
                      </button>
                      {writable && (
                        <>
                          <button type="button" aria-label={`Edit ${t.name}`} onClick={() => setEditing(t)}>
                            Edit
                          </button>
                          <button
                            type="button"
                            aria-label={`${t.enabled ? 'Disable' : 'Enable'} ${t.name}`}
                            onClick={async () => {
                              if (await action.run(() => api.PATCH('/v1/triggers/{id}', { params: { path: { id: t.id } }, body: { enabled: !t.enabled } }))) triggers.reload();
                            }}
                          >
                            {t.enabled ? 'Disable' : 'Enable'}
                          </button>
                          <button
                            type="button"
                            class="danger"
                            aria-label={`Delete ${t.name}`}
                            onClick={async () => {
                              if (!confirm(`Delete the trigger “${t.name}”?`)) return;
                              if (await action.run(() => api.DELETE('/v1/triggers/{id}', { params: { path: { id: t.id } } }))) triggers.reload();
                            }}
                          >
                            Delete
                          </button>
                        </>
                      )}
                    </td>
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

function TriggerForm(props: { agentId: string; trigger?: Schemas['Trigger']; onSaved: (t: Schemas['Trigger'] | Schemas['TriggerWithSecret']) => void }) {
  const t0 = props.trigger;
  const [name, setName] = useState(t0?.name ?? '');
  const [scheme, setScheme] = useState<Scheme>(t0?.scheme ?? 'github');
  const [secret, setSecret] = useState('');
  const [header, setHeader] = useState(t0?.signature_header ?? '');
  const [template, setTemplate] = useState(t0?.message_template ?? 'New event: {{ payload | json }}');
  const [rate, setRate] = useState(String(t0?.rate_limit_per_minute ?? ''));
  const action = useAction();
  return (
    <form
      class="form"
      onSubmit={async (e) => {
        e.preventDefault();
        const common = {
          name,
          message_template: template,
          ...(secret ? { secret } : {}),
          ...(scheme === 'hmac-sha256' && header ? { signature_header: header } : {}),
          ...(rate ? { rate_limit_per_minute: Number(rate) } : {}),
        };
        const saved = t0
          ? await action.run(() => api.PATCH('/v1/triggers/{id}', { params: { path: { id: t0.id } }, body: common }))
          : await action.run(() => api.POST('/v1/agents/{id}/triggers', { params: { path: { id: props.agentId } }, body: { ...common, scheme } }));
        if (saved) props.onSaved(saved);
      }}
    >
      <Field label="Trigger name">
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </Field>
      <Field label="Signature scheme" hint={t0 ? 'Fixed once created' : undefined}>
        <select value={scheme} disabled={!!t0} onChange={(e) => setScheme(e.currentTarget.value as Scheme)}>
          {SCHEMES.map((s) => (
            <option value={s.value} key={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </Field>
      {scheme !== 'none' && (
        <Field label="Signing secret" hint={t0 ? 'Leave empty to keep the current one' : 'The sender’s secret; leave empty to generate one'}>
          <input type="password" autoComplete="off" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} />
        </Field>
      )}
      {scheme === 'hmac-sha256' && (
        <Field label="Signature header">
          <input value={header} onInput={(e) => setHeader(e.currentTarget.value)} required />
        </Field>
      )}
      <Field label="Message template" hint="{{ payload.path }} expressions with filters such as json, default(…), truncate(n)">
        <textarea rows={3} value={template} onInput={(e) => setTemplate(e.currentTarget.value)} required />
      </Field>
      <Field label="Rate limit per minute">
        <input type="number" min={1} value={rate} onInput={(e) => setRate(e.currentTarget.value)} placeholder="60" />
      </Field>
      <ErrorText error={action.error} />
      <button type="submit" class="primary" disabled={action.busy}>
        {t0 ? 'Save trigger' : 'Create trigger'}
      </button>
    </form>
  );
}

function TemplateTester(props: { trigger: Schemas['Trigger'] }) {
  const [payload, setPayload] = useState('{\n  "action": "opened"\n}');
  const [result, setResult] = useState<Schemas['TriggerTestResult'] | null>(null);
  const [parseError, setParseError] = useState<string | null>(null);
  const action = useAction();
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        let parsed: unknown;
        try {
          parsed = JSON.parse(payload);
          setParseError(null);
        } catch (err) {
          setParseError(`The sample payload is not JSON: ${(err as Error).message}`);
          return;
        }
        const answer = await action.run(() => api.POST('/v1/triggers/{id}/test', { params: { path: { id: props.trigger.id } }, body: { payload: parsed as never } }));
        if (answer) setResult(answer);
      }}
    >
      <p>
        Template: <code>{props.trigger.message_template}</code>
      </p>
      <Field label="Sample payload (JSON)">
        <textarea rows={6} value={payload} onInput={(e) => setPayload(e.currentTarget.value)} />
      </Field>
      <ErrorText error={parseError ?? action.error} />
      <button type="submit" class="primary" disabled={action.busy}>
        Render message
      </button>
      {result && (
        <div role="status">
          <p>{result.valid ? 'The payload matches the trigger’s schema. The run’s message would be:' : 'The payload does not match the trigger’s schema:'}</p>
          <pre class="text" data-testid="rendered">{result.message}</pre>
          {result.validationErrors.length > 0 && (
            <ul>
              {result.validationErrors.map((v) => (
                <li key={v.path}>
                  <code>{v.path}</code>: {v.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </form>
  );
}
