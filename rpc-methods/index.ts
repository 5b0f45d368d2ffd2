// Every method the service offers, one file per domain.
import type { AnyMethod } from '../server/rpc/method.ts';
import * as system from './system.ts';
import * as users from './users.ts';
import * as sessions from './sessions.ts';
import * as agents from './agents.ts';
import * as admin from './admin.ts';
import * as audit from './audit.ts';
import * as account from './account.ts';
import * as adminUsers from './adminUsers.ts';
import * as adminClients from './adminClients.ts';
import * as webhooks from './webhooks.ts';

export const methods: AnyMethod[] = [system, users, account, sessions, agents, admin, adminUsers, adminClients, audit, webhooks].flatMap((domain) => Object.values(domain));
