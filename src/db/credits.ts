import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { CreditEntry, CreditEntryKind, Database } from './schema.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import { newRowId } from './ids.js';

/**
 * The credits repository: the only place that writes an org's kept balance, its holds and the
 * ledger. Every balance change is one ledger row and one conditional update of the org row in
 * the same transaction; holds move only by conditional updates, so the check and the change
 * are one statement and hold across many API processes. The org row is locked by plain
 * UPDATEs (FOR NO KEY UPDATE), never by SELECT … FOR UPDATE, which would queue behind every
 * foreign-key insert (FOR KEY SHARE) that names the org.
 */
type Db = Kysely<Database> | Transaction<Database>;

export interface Wallet {
  balance: number;
  held: number;
  available: number;
}

function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}

export async function readWallet(db: Db, orgId: string): Promise<Wallet> {
  return (await readWalletAndRunLimit(db, orgId)).wallet;
}

/** The wallet and the org's concurrency limit in one read: why a fast accept placed no hold (src/db/runs.ts). */
export async function readWalletAndRunLimit(db: Db, orgId: string): Promise<{ wallet: Wallet; maxConcurrentRuns: number | null }> {
  const row = await db.selectFrom('orgs').select(['balance', 'held', 'max_concurrent_runs']).where('id', '=', orgId).executeTakeFirst();
  const balance = Number(row?.balance ?? 0);
  const held = Number(row?.held ?? 0);
  return { wallet: { balance, held, available: balance - held }, maxConcurrentRuns: row?.max_concurrent_runs ?? null };
}

export class CreditsUnavailable extends Error {
  constructor(readonly wallet: Wallet, readonly required: number) {
    super(`${required} credits required, ${wallet.available} available`);
    this.name = 'CreditsUnavailable';
  }
}

/**
 * Adds a grant (amount > 0) or a correction (amount < 0) to the ledger and the kept balance. A
 * correction may not take the balance below what runs hold (or below zero): it throws
 * CreditsUnavailable instead, and nothing is written.
 */
export async function grantCredits(
  db: Db,
  grant: { orgId: string; amount: number; reason: string; kind?: CreditEntryKind },
): Promise<{ entry: CreditEntry; balance: number }> {
  return inTransaction(db, async (trx) => {
    const updated = await trx
      .updateTable('orgs')
      .set({ balance: sql<string>`balance + ${grant.amount}` })
      .where('id', '=', grant.orgId)
      .where(sql<boolean>`(${grant.amount} > 0 or balance + ${grant.amount} >= held)`)
      .returning('balance')
      .executeTakeFirst();
    if (!updated) throw new CreditsUnavailable(await readWallet(trx, grant.orgId), -grant.amount);
    const entry = await trx
      .insertInto('credit_entries')
      .values({
        id: randomUUID(),
        org_id: grant.orgId,
        kind: grant.kind ?? (grant.amount > 0 ? 'grant' : 'adjustment'),
        amount: grant.amount,
        reason: grant.reason,
        run_id: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { entry, balance: Number(updated.balance) };
  });
}

/**
 * Holds `amount` for a run being accepted, in the caller's transaction (the one inserting the
 * run): `balance − held ≥ amount` is checked and the hold placed by one UPDATE, so concurrent
 * accepts can never hold more than the balance. Throws CreditsUnavailable when it is short.
 */
export async function holdCredits(trx: Transaction<Database>, orgId: string, amount: number): Promise<void> {
  const placed = await trx
    .updateTable('orgs')
    .set({ held: sql<string>`held + ${amount}` })
    .where('id', '=', orgId)
    .where(sql<boolean>`balance - held >= ${amount}`)
    .executeTakeFirst();
  if (Number(placed.numUpdatedRows) !== 1) throw new CreditsUnavailable(await readWallet(trx, orgId), amount);
}

/** The run's remaining hold as stored, its row locked for this transaction (run row before org row, always); 0 when the run is gone. */
async function lockRunHold(trx: Transaction<Database>, runId: string): Promise<number | null> {
  const row = await trx.selectFrom('runs').select('credits_held').where('id', '=', runId).forNoKeyUpdate().executeTakeFirst();
  return row ? row.credits_held : 0;
}

/** The run's remaining hold, taken: its row locked and its hold set to 0 in this transaction. */
async function takeRunHold(trx: Transaction<Database>, runId: string): Promise<number | null> {
  const hold = await lockRunHold(trx, runId);
  if (hold) await trx.updateTable('runs').set({ credits_held: 0 }).where('id', '=', runId).execute();
  return hold;
}

/**
 * Releases whatever the run still holds (failure, cancel, timeout, a run removed before it
 * started). Idempotent by run id: the run row's hold goes to 0 in the same transaction.
 */
export async function releaseRunHold(db: Db, run: { id: string; org_id: string }): Promise<number> {
  return inTransaction(db, async (trx) => {
    const hold = await takeRunHold(trx, run.id);
    if (hold) await trx.updateTable('orgs').set({ held: sql<string>`held - ${hold}` }).where('id', '=', run.org_id).execute();
    return hold ?? 0;
  });
}

export interface Capture {
  /** Credits charged: min(the usage formula, the hold). */
  charged: number;
  /** false when this run was already charged (a retried activity): nothing changed. */
  captured: boolean;
  /** The kept balance after the charge (only when captured). */
  balance: number;
  /** The org's low-balance threshold, read with the charge (only when captured). */
  lowBalanceThreshold?: number;
}

/**
 * Charges a completed run once and releases the rest of its hold, in the caller's transaction.
 * The charge never exceeds the hold; the ledger's unique run_id and the run's hold going to 0
 * make a retried capture a no-op. A run accepted before holds existed (null hold) is charged
 * what it used, as far as the available balance goes.
 */
export async function captureRunCredits(trx: Transaction<Database>, run: { id: string; org_id: string }, used: number): Promise<Capture> {
  return captureLockedRunCredits(trx, { ...run, credits_held: await lockRunHold(trx, run.id) }, used);
}

/**
 * `captureRunCredits` for a run whose row the caller's transaction has already locked and read
 * (FOR UPDATE, e.g. lockRunForBookkeeping), with its hold as read. The charge is ONE statement:
 * the run's hold taken, the ledger entry, and the org's balance and held moved only when that
 * entry is new (its unique run_id: exactly once).
 */
export async function captureLockedRunCredits(trx: Transaction<Database>, run: { id: string; org_id: string; credits_held: number | null }, used: number): Promise<Capture> {
  const hold = run.credits_held;
  // Captured already (a retry) or released (the run ended otherwise): nothing more to charge.
  if (hold === 0) return chargedBefore(trx, run, 0);
  const charged = hold === null ? Math.max(0, Math.min(used, (await readWallet(trx, run.org_id)).available)) : Math.min(used, hold);
  const released = hold ?? 0;
  const org = await trx
    .with('hold_taken', (qb) => qb.updateTable('runs').set({ credits_held: 0 }).where('id', '=', run.id).where('credits_held', '<>', 0))
    .with('entry', (qb) =>
      qb
        .insertInto('credit_entries')
        .values({ id: newRowId(), org_id: run.org_id, kind: 'charge', amount: -charged, reason: `Run ${run.id}`, run_id: run.id })
        .onConflict((oc) => oc.column('run_id').doNothing())
        .returning('id'),
    )
    .updateTable('orgs')
    .set({ balance: sql<string>`balance - ${charged}`, held: sql<string>`held - ${released}` })
    .where('id', '=', run.org_id)
    .where((eb) => eb.exists(eb.selectFrom('entry').select('entry.id')))
    .returning(['balance', 'low_balance_threshold'])
    .executeTakeFirst();
  if (!org) return chargedBefore(trx, run, released);
  return { charged, captured: true, balance: Number(org.balance), lowBalanceThreshold: Number(org.low_balance_threshold) };
}

/**
 * Nothing new to charge: the run's ledger entry exists already (or its hold was released). The
 * hold still `released` goes back to the org; the earlier charge is reported.
 */
async function chargedBefore(trx: Transaction<Database>, run: { id: string; org_id: string }, released: number): Promise<Capture> {
  if (released) await trx.updateTable('orgs').set({ held: sql<string>`held - ${released}` }).where('id', '=', run.org_id).execute();
  const existing = await trx.selectFrom('credit_entries').select('amount').where('run_id', '=', run.id).executeTakeFirst();
  return { charged: -Number(existing?.amount ?? 0), captured: false, balance: (await readWallet(trx, run.org_id)).balance };
}

/** The org's ledger, newest first; for an agent-scoped caller, grants plus its own agent's charges only. */
export async function listCreditEntries(db: Db, orgId: string, filter: { agentId: string | null }, page: PageRequest): Promise<Page<CreditEntry>> {
  let base = db.selectFrom('credit_entries').where('org_id', '=', orgId);
  if (filter.agentId) {
    const agentId = filter.agentId;
    base = base.where((eb) =>
      eb.or([eb('run_id', 'is', null), eb('run_id', 'in', eb.selectFrom('runs').select('id').where('org_id', '=', orgId).where('agent_id', '=', agentId))]),
    );
  }
  return keysetPage(db, base, page);
}
