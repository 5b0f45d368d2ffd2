// Methods that need no credentials: proof that dispatch works.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';

export const ping = defineMethod({
  name: 'system.ping',
  summary: 'Answers pong: proves the transport and the registry without credentials.',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({ pong: Type.Literal(true), time: Type.String({ format: 'date-time' }) }),
  requires: {},
  handler: async () => ({ pong: true as const, time: new Date().toISOString() }),
});
