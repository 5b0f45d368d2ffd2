// Where JSON-RPC is served, and as what: POST /jsonrpc (the method in the body) and POST /api/v1/<method path>
// (Odoo style: the path names the method). Shared by the Koa app and the direct transport.
import type { Registry } from '../rpc/registry.ts';

export const ODOO_PREFIX = '/api/v1/';

/** The Content-Types a JSON-RPC body may carry. */
export const JSON_TYPES = ['application/json', 'application/json-rpc', 'application/jsonrequest'];

/** Paths already resolved, per registry: a method's own paths, so a few dozen (a bound all the same). */
const resolved = new WeakMap<Registry, Map<string, string>>();
const RESOLVED_MAX = 1000;

/** The registry name an Odoo-style path names: /api/v1/users/login -> users.login; /api/v1/agents -> agents.list. */
export function methodForPath(path: string, registry: Registry): string | undefined {
  let paths = resolved.get(registry);
  if (!paths) resolved.set(registry, (paths = new Map()));
  const known = paths.get(path);
  if (known !== undefined) return known;
  const name = path.slice(ODOO_PREFIX.length).replace(/\/+$/, '').split('/').join('.');
  const method = registry.methods.has(name) ? name : registry.methods.has(`${name}.list`) ? `${name}.list` : undefined;
  if (method !== undefined && paths.size < RESOLVED_MAX) paths.set(path, method);
  return method;
}
