/**
 * Work that waits on tenants' receivers (event deliveries, redeliveries, run callbacks) runs on
 * its own task queue with its own slot budget, so one tenant's slow or hanging receivers can
 * never hold the slots that agent runs need. Deterministic: workflows derive it from their own
 * task queue.
 */
export const deliveriesTaskQueue = (mainTaskQueue: string) => `${mainTaskQueue}-deliveries`;
