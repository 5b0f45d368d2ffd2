// What keeps the console's pages and API safe in a browser: the response headers every /console answer
// carries (a strict Content-Security-Policy, no framing, no sniffing), the session cookie's attributes,
// and the cross-site check every state-changing console request passes before anything runs.
import type Koa from 'koa';
import type { TrustCheck } from '../http/peer.ts';

/** No inline script or style, no eval, nothing from another origin, never framed. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function setSecurityHeaders(ctx: Koa.Context): void {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
}

/** The cookie that holds the console's session id: only the console's paths ever see it. */
export const COOKIE_NAME = 'tether_console';
export const COOKIE_PATH = '/console';

/** HTTPS as the browser sees it: TLS on this socket, or X-Forwarded-Proto https from a trusted proxy. */
export function isHttps(ctx: Koa.Context, trusted: TrustCheck): boolean {
  if ((ctx.socket as { encrypted?: boolean }).encrypted) return true;
  const direct = (ctx.socket.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (!trusted(direct)) return false;
  return (ctx.get('x-forwarded-proto').split(',')[0] ?? '').trim().toLowerCase() === 'https';
}

/** Set-Cookie for the session id (or, with undefined, the cookie's removal). */
export function sessionCookie(sessionId: string | undefined, secure: boolean): string {
  const attributes = [`Path=${COOKIE_PATH}`, 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])];
  if (sessionId === undefined) return [`${COOKIE_NAME}=`, 'Max-Age=0', ...attributes].join('; ');
  // No Max-Age: the browser forgets it when it closes; the session's own lifetimes govern the rest.
  return [`${COOKIE_NAME}=${sessionId}`, ...attributes].join('; ');
}

/** This server's origin as the browser names it (Host, or X-Forwarded-Host from a trusted proxy). */
function ownOrigin(ctx: Koa.Context, trusted: TrustCheck): string {
  const direct = (ctx.socket.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  const forwardedHost = trusted(direct) ? ctx.get('x-forwarded-host').split(',')[0]?.trim() : '';
  return `${isHttps(ctx, trusted) ? 'https' : 'http'}://${(forwardedHost || ctx.get('host')).toLowerCase()}`;
}

/** The header the console's script sends with every API request: a cross-site form cannot set it. */
export const CONSOLE_HEADER = 'x-tether-console';

/**
 * Why a state-changing console request is refused as cross-site, or undefined when it is the console's
 * own: a fetch from a page of this origin (Sec-Fetch-Site same-origin when the browser sends it, Origin
 * this server's), with the console's header and a JSON body. A form posted from another site fails every
 * one of these; a script on another site cannot set the header or the JSON type without a CORS preflight,
 * which the console never allows; and the cookie is SameSite=Strict besides.
 */
export function crossSiteReason(ctx: Koa.Context, trusted: TrustCheck): string | undefined {
  const site = ctx.get('sec-fetch-site');
  if (site && site !== 'same-origin') return `Sec-Fetch-Site is ${site.slice(0, 40)}`;
  const origin = ctx.get('origin');
  if (!origin) return 'no Origin header';
  if (origin.toLowerCase() !== ownOrigin(ctx, trusted)) return 'the Origin is another site';
  if (ctx.get(CONSOLE_HEADER) !== '1') return `no ${CONSOLE_HEADER} header`;
  if (!ctx.is('application/json')) return 'the body is not application/json';
  return undefined;
}
