/**
 * "Last used" stamps (API keys, token URLs) are kept to the minute: a credential in steady use
 * writes its row at most once a minute instead of once per call. A write per call would make
 * concurrent calls through the same token queue on that row's lock and each pay a commit.
 */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** The oldest stamp that still counts as current at `now`. */
export const lastUsedStaleBefore = (now: Date) => new Date(now.getTime() - LAST_USED_RESOLUTION_MS);

/** Whether `last` is recent enough that stamping `now` would change nothing worth a write. */
export const lastUsedIsCurrent = (last: Date | null, now: Date) => last !== null && last >= lastUsedStaleBefore(now);
