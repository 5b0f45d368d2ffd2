// The OpenRPC 1.x document served by rpc.discover, generated from the same declarations that drive
// validation, so a client SDK or a Postman collection never drifts from the server.
import type { TObject } from '@sinclair/typebox';
import type { AnyMethod } from './method.ts';

export function openRpcDocument(methods: Iterable<AnyMethod>, version: string) {
  return {
    openrpc: '1.3.2',
    info: { title: 'Tether', version, description: 'Session-bound JSON-RPC 2.0 service' },
    methods: [...methods].map((m) => {
      const object = m.params.type === 'object' ? (m.params as TObject) : undefined;
      const required = new Set(object?.required ?? []);
      const params = object
        ? Object.entries(object.properties).map(([name, schema]) => ({ name, required: required.has(name), schema }))
        : [{ name: 'params', schema: m.params }];
      if (m.requires.session || m.requires.admin) {
        params.push({ name: 'session_id', required: false, schema: { type: 'string', description: 'or the X-Openerp-Session-Id header, or the session_id cookie' } as never });
      }
      // Odoo's envelope (registry.ts ENVELOPE_PARAMS): accepted on every method, never used.
      params.push(
        { name: 'context', required: false, schema: { type: 'object', description: "Odoo's call context: accepted and ignored" } as never },
        { name: 'db', required: false, schema: { type: 'string', description: "Odoo's database name: accepted and ignored (Tether serves one database)" } as never },
      );
      return {
        name: m.name,
        summary: m.summary,
        // By name only; `params: []` is taken for "no params" on a method with no required params.
        paramStructure: object ? 'by-name' : 'either',
        params,
        result: { name: 'result', schema: m.result },
        'x-requires': m.requires,
      };
    }),
  };
}
