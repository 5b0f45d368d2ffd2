// Everything a decorator or handler may reach, built once at start and shared by every call.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Database } from './stores/database.ts';
import type { Cache } from './stores/cache.ts';

export interface Services {
  config: Config;
  log: Logger;
  db: Database;
  cache: Cache;
}
