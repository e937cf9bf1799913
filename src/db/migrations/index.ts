import type { Migration } from 'kysely';
import * as foundation from './20261125T0900_foundation.js';
import * as creditLedger from './20261125T1130_credit_ledger.js';
import * as runsEventsDeliveries from './20261125T1200_runs_events_deliveries.js';
import * as inboundWebhooks from './20261125T1300_inbound_webhooks.js';
import * as endpoints from './20261125T1330_endpoints.js';
import * as triggers from './20261125T1400_triggers.js';
import * as creditHolds from './20261130T1000_credit_holds.js';
import * as streamTokensEndpointLeases from './20261130T1200_stream_tokens_endpoint_leases.js';
import * as webhookSyncTimeout from './20261130T1400_webhook_sync_timeout.js';
import * as portalSessions from './20261130T1600_portal_sessions.js';
import * as listIndexes from './20261201T0200_list_indexes.js';
import * as metricSnapshots from './20261201T0210_metric_snapshots.js';
import * as retention from './20261201T0600_retention.js';
import * as schedulesDelayedRuns from './20261201T0700_schedules_delayed_runs.js';
import * as flowControl from './20261201T0800_flow_control.js';
import * as endpointSendTurns from './20261201T0900_endpoint_send_turns.js';
import * as eventLog from './20261201T1000_event_log.js';
import * as leanRunIndexes from './20261201T1000_lean_run_indexes.js';

/** Every migration, by name; names sort in the order they run. */
export const migrations: Record<string, Migration> = {
  '20261125T0900_foundation': foundation,
  '20261125T1130_credit_ledger': creditLedger,
  '20261125T1200_runs_events_deliveries': runsEventsDeliveries,
  '20261125T1300_inbound_webhooks': inboundWebhooks,
  '20261125T1330_endpoints': endpoints,
  '20261125T1400_triggers': triggers,
  '20261130T1000_credit_holds': creditHolds,
  '20261130T1200_stream_tokens_endpoint_leases': streamTokensEndpointLeases,
  '20261130T1400_webhook_sync_timeout': webhookSyncTimeout,
  '20261130T1600_portal_sessions': portalSessions,
  '20261201T0200_list_indexes': listIndexes,
  '20261201T0210_metric_snapshots': metricSnapshots,
  '20261201T0600_retention': retention,
  '20261201T0700_schedules_delayed_runs': schedulesDelayedRuns,
  '20261201T0800_flow_control': flowControl,
  '20261201T0900_endpoint_send_turns': endpointSendTurns,
  '20261201T1000_event_log': eventLog,
  '20261201T1000_lean_run_indexes': leanRunIndexes,
};
