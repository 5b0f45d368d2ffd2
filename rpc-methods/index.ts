// Every method the service offers, one file per domain.
import type { AnyMethod } from '../server/rpc/method.ts';
import * as system from './system.ts';

export const methods: AnyMethod[] = [...Object.values(system)];
