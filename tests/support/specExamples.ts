// The methods the JSON-RPC 2.0 specification's examples section calls
// (https://www.jsonrpc.org/specification#examples), declared like any product method and requiring
// nothing. The registry validates a non-object params schema as is (a TypeBox Union/Tuple/Array has
// no `type: 'object'`), so positional (array) params need no special casing.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../../server/rpc/method.ts';
import type { AnyMethod } from '../../server/rpc/method.ts';

const Numbers = Type.Array(Type.Number());

export const subtract = defineMethod({
  name: 'subtract',
  summary: 'minuend - subtrahend, by position ([42, 23]) or by name ({"minuend": 42, "subtrahend": 23}).',
  params: Type.Union([
    Type.Tuple([Type.Number(), Type.Number()]),
    Type.Object({ minuend: Type.Number(), subtrahend: Type.Number() }, { additionalProperties: false }),
  ]),
  result: Type.Number(),
  requires: {},
  handler: async (params) => (Array.isArray(params) ? params[0] - params[1] : params.minuend - params.subtrahend),
});

export const sum = defineMethod({
  name: 'sum',
  summary: 'The sum of a list of numbers.',
  params: Numbers,
  result: Type.Number(),
  requires: {},
  handler: async (params) => params.reduce((a, b) => a + b, 0),
});

export const update = defineMethod({
  name: 'update',
  summary: 'Accepts any list (the specification calls it as a notification).',
  params: Type.Array(Type.Unknown()),
  result: Type.Null(),
  requires: {},
  handler: async () => null,
});

export const notifyHello = defineMethod({
  name: 'notify_hello',
  summary: 'Accepts a list (the specification calls it as a notification).',
  params: Type.Array(Type.Unknown()),
  result: Type.Null(),
  requires: {},
  handler: async () => null,
});

export const notifySum = defineMethod({
  name: 'notify_sum',
  summary: 'Sums a list of numbers (the specification calls it as a notification).',
  params: Numbers,
  result: Type.Number(),
  requires: {},
  handler: async (params) => params.reduce((a, b) => a + b, 0),
});

export const getData = defineMethod({
  name: 'get_data',
  summary: 'Answers ["hello", 5].',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Tuple([Type.Literal('hello'), Type.Literal(5)]),
  requires: {},
  handler: async () => ['hello', 5] as ['hello', 5],
});

export const specExamples: AnyMethod[] = [subtract, sum, update, notifyHello, notifySum, getData];
