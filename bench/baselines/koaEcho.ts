// Baseline 1: the bare stack Tether is built on, answering method "call" with no auth at all:
// Koa + koa-bodyparser + json-rpc-2.0, one process, like Tether.
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { JSONRPCServer } from 'json-rpc-2.0';

const rpc = new JSONRPCServer();
rpc.addMethod('call', (params: unknown) => ({ echo: params }));

const app = new Koa();
app.use(bodyParser());
app.use(async (ctx) => {
  const answer = await rpc.receive(ctx.request.body as never);
  if (answer) ctx.body = answer;
  else ctx.status = 204;
});
const port = Number(process.env.PORT ?? 8070);
app.listen(port, '127.0.0.1', () => console.log(`koa echo on ${port}`));
