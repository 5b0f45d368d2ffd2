// Baseline 2: what Node users pick instead: express + express-session + connect-redis with
// rolling: true (the cookie and the Redis TTL slide on every call), one authenticated call.
import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';

const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
await client.connect();

declare module 'express-session' {
  interface SessionData {
    userId: number;
  }
}

const app = express();
app.disable('x-powered-by');
app.use(express.json());
app.use(
  session({
    store: new RedisStore({ client, prefix: 'bench-express:' }),
    secret: 'bench-secret-0123456789-0123456789',
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { maxAge: 7200_000, httpOnly: true, sameSite: 'lax' },
  }),
);
app.post('/login', (req, res) => {
  req.session.userId = 1;
  res.json({ jsonrpc: '2.0', id: req.body?.id ?? null, result: { ok: true } });
});
app.post('/call', (req, res) => {
  if (!req.session.userId) {
    res.status(401).json({ jsonrpc: '2.0', id: req.body?.id ?? null, error: { code: -32001, message: 'Session required' } });
    return;
  }
  res.json({ jsonrpc: '2.0', id: req.body?.id ?? null, result: { user_id: req.session.userId, echo: req.body?.params } });
});
const port = Number(process.env.PORT ?? 8071);
app.listen(port, '127.0.0.1', () => console.log(`express-session on ${port}`));
