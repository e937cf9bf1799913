import type { AppDeps } from '../context.js';
import type { RouteSpec } from '../route.js';

/** Third-party triggers: any JSON payload, verified by its sender's signature scheme, starts a run. */
export function triggerRoutes(_deps: AppDeps): RouteSpec[] {
  return [];
}
