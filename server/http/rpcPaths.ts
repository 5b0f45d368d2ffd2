// Where JSON-RPC is served, and as what: POST /jsonrpc (the method in the body) and POST /api/v1/<method path>
// (Odoo style: the path names the method). Shared by the Koa app and the direct transport.
import type { Registry } from '../rpc/registry.ts';

export const ODOO_PREFIX = '/api/v1/';

/** The Content-Types a JSON-RPC body may carry. */
export const JSON_TYPES = ['application/json', 'application/json-rpc', 'application/jsonrequest'];

/** The registry name an Odoo-style path names: /api/v1/users/login -> users.login; /api/v1/agents -> agents.list. */
export function methodForPath(path: string, registry: Registry): string | undefined {
  const name = path.slice(ODOO_PREFIX.length).replace(/\/+$/, '').split('/').join('.');
  if (registry.methods.has(name)) return name;
  if (registry.methods.has(`${name}.list`)) return `${name}.list`;
  return undefined;
}
