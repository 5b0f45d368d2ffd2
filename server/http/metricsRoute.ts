// GET /metrics: Prometheus text format. Off with METRICS=off; keep it on a private network, or give it
// a port of its own (METRICS_PORT, metricsServer.ts), and then it is not served here.
import type Koa from 'koa';
import type { Services } from '../services.ts';

export async function metricsRoute(ctx: Koa.Context, services: Services): Promise<boolean> {
  if (ctx.path !== '/metrics' || !services.config.metricsEnabled || services.config.metricsPort !== undefined) return false;
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET');
    ctx.status = 405;
    ctx.body = 'Use GET /metrics\n';
    return true;
  }
  const { contentType, body } = await services.metrics.text();
  ctx.set('Content-Type', contentType);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
  return true;
}
