// Everything a decorator or handler may reach, built once at start and shared by every call.
import type { Logger } from 'pino';
import type { CallLine } from './log.ts';
import type { Config } from './config.ts';
import type { Database } from './stores/database.ts';
import type { Cache } from './cache/cache.ts';
import type { SigningKeys } from './auth/keys.ts';
import type { UserStore } from './stores/userStore.ts';
import type { ClientStore } from './stores/clientStore.ts';
import type { AgentStore } from './stores/agentStore.ts';
import type { SessionStore } from './stores/sessionStore.ts';
import type { SessionService } from './sessions/sessionService.ts';
import type { ActivityWriter } from './sessions/activityWriter.ts';
import type { AuditLog } from './audit/auditLog.ts';
import type { Metrics } from './metrics.ts';
import type { StateCache } from './cache/stateCache.ts';
import type { ChangeLog } from './cache/changeLog.ts';
import type { EventStore } from './stores/eventStore.ts';
import type { EventFeed } from './events/eventFeed.ts';
import type { EventRecorder } from './events/eventRecorder.ts';
import type { WebhookStore } from './stores/webhookStore.ts';

export interface Services {
  config: Config;
  log: Logger;
  /** The one info line per call (log.ts infoLineWriter: the call line without pino's generic path). */
  callLog: (fields: CallLine) => void;
  db: Database;
  cache: Cache;
  /** Users', clients' and tokens' state in the cache (stateCache.ts). */
  state: StateCache;
  /** The change log's follower: the cache's position, catch-up, and the lookup checked against it. */
  changes: ChangeLog;
  keys: SigningKeys;
  users: UserStore;
  clients: ClientStore;
  agents: AgentStore;
  sessionRows: SessionStore;
  sessions: SessionService;
  /** Keep-alives' last_activity writes, batched and bounded (activityWriter.ts). */
  activity: ActivityWriter;
  audit: AuditLog;
  metrics: Metrics;
  /** Session events: the rows, the live feed (every instance's events, in commit order), and the batcher of refusals and throttles. */
  events: { rows: EventStore; feed: EventFeed; recorder: EventRecorder };
  webhooks: WebhookStore;
}
