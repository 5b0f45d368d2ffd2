// One cookie's value from a Cookie header, read as Koa's `ctx.cookies.get(name)` reads it (the
// `cookies` package, unsigned): the first `name=value` pair, surrounding double quotes removed, no
// decoding. Both transports read the Odoo-style session_id cookie through here.
const patterns = new Map<string, RegExp>();

function patternOf(name: string): RegExp {
  let pattern = patterns.get(name);
  if (!pattern) patterns.set(name, (pattern = new RegExp(`(?:^|;) *${name.replace(/[|\\{}()[\]^$+*?.]/g, '\\$&')}=([^;]*)`)));
  return pattern;
}

export function cookieOf(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const value = patternOf(name).exec(header)?.[1];
  if (value === undefined) return undefined;
  return value[0] === '"' ? value.slice(1, -1) : value;
}
