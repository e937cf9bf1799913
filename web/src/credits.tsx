import { useState } from 'preact/hooks';
import { api, Async, Link, Pager, Table, useLoad, when } from './lib';

/** Below this the console warns (the API does not expose the org's own threshold yet). */
export const LOW_BALANCE = 100;

export function CreditsBanner() {
  const credits = useLoad(() => api.GET('/v1/credits', { params: { query: { limit: 1 } } }), [], 30_000);
  if (!credits.data || credits.data.balance >= LOW_BALANCE) return null;
  return (
    <div class="banner" role="alert">
      Credit balance is low: {credits.data.balance} left. Runs stop when it reaches zero. <Link href="/credits">See credits</Link>
    </div>
  );
}

export function CreditsScreen() {
  const [page, setPage] = useState(1);
  const credits = useLoad(() => api.GET('/v1/credits', { params: { query: { page, limit: 25 } } }), [page]);
  return (
    <section aria-labelledby="credits-title">
      <h1 id="credits-title">Credits</h1>
      <Async state={credits} what="credits">
        {(c) => (
          <>
            <p class="balance">
              Balance: <strong>{c.balance}</strong> credits
            </p>
            <h2>Ledger</h2>
            {c.data.length === 0 ? (
              <p class="empty">No ledger entries yet.</p>
            ) : (
              <>
                <Table label="Credit ledger">
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Kind</th>
                      <th scope="col">Amount</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Run</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.data.map((e) => (
                      <tr key={e.id}>
                        <td>{when(e.created_at)}</td>
                        <td>{e.kind}</td>
                        <td>{e.amount}</td>
                        <td>{e.reason}</td>
                        <td>{e.run_id ? <Link href={`/runs/${e.run_id}`}>{e.run_id.slice(0, 8)}</Link> : '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </Table>
                <Pager pagination={c.pagination} onPage={setPage} />
              </>
            )}
          </>
        )}
      </Async>
    </section>
  );
}
