// OpenRPC tools nobody here wrote: rpc.discover's document validated and parsed by
// @open-rpc/schema-utils-js, and calls made through @open-rpc/client-js as its README shows
// (HTTPTransport + RequestManager + Client), the bearer in the transport's headers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseOpenRPCDocument, validateOpenRPCDocument } from '@open-rpc/schema-utils-js';
import { Client, HTTPTransport, RequestManager } from '@open-rpc/client-js';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { newClient, newUser, tokenFor } from '../support/fixtures.ts';
import { methods } from '../../rpc-methods/index.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

test('rpc.discover is a valid OpenRPC document naming every registry method', async () => {
  const res = await t.rpc('rpc.discover');
  const document = res.body.result;
  const verdict = validateOpenRPCDocument(document);
  assert.is(verdict, true, `validation: ${verdict instanceof Error ? verdict.message : verdict}`);
  const parsed = await parseOpenRPCDocument(document);
  const names = parsed.methods.map((m) => ('name' in m ? m.name : ''));
  for (const m of methods) assert.ok(names.includes(m.name), m.name);
  const login = parsed.methods.find((m) => 'name' in m && m.name === 'users.login');
  assert.ok(login && 'params' in login && login.params.some((p) => 'name' in p && p.name === 'password'));
});

test('@open-rpc/client-js: a login, a protected call and a refusal carrying our data', async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  const token = await tokenFor(t, app);
  const transport = new HTTPTransport(`${t.url}/jsonrpc`, { headers: { authorization: `Bearer ${token}` } });
  const client = new Client(new RequestManager([transport]));

  const login = (await client.request({ method: 'users.login', params: { login: user.login, password: user.password } })) as { session_id: string };
  assert.is(login.session_id.length, 80);
  const me = (await client.request({ method: 'me', params: { session_id: login.session_id } })) as { user: { login: string } };
  assert.is(me.user.login, user.login);
  const ping = (await client.request({ method: 'system.ping', params: {} })) as { pong: boolean };
  assert.is(ping.pong, true);

  try {
    await client.request({ method: 'agents.list', params: {} });
    assert.unreachable('no session: refused');
  } catch (error) {
    const e = error as { code?: number; message?: string; data?: { error_code?: string; status?: number } };
    assert.is(e.message, 'Session required');
    assert.is(e.code, -32001);
    assert.is(e.data?.error_code, 'SESSION_REQUIRED');
    assert.is(e.data?.status, 401);
  }
  client.close();
});

test('@open-rpc/client-js: system.ping and rpc.discover with no params (the client sends "params": []), on /jsonrpc', async () => {
  const client = new Client(new RequestManager([new HTTPTransport(`${t.url}/jsonrpc`)]));
  try {
    const ping = (await client.request({ method: 'system.ping' })) as { pong: boolean };
    assert.is(ping.pong, true);
    const document = (await client.request({ method: 'rpc.discover' })) as { openrpc: string; methods: { name: string }[] };
    assert.match(document.openrpc, /^1\./);
    assert.ok(document.methods.some((m) => m.name === 'system.ping'));
    // Positional params with members are still refused, with a message that says what to send.
    try {
      await client.request({ method: 'system.ping', params: [1] });
      assert.unreachable('a positional param: refused');
    } catch (error) {
      const e = error as { code?: number; data?: { error_code?: string; detail?: string } };
      assert.is(e.code, -32602);
      assert.match(e.data?.detail ?? '', /named/);
    }
  } finally {
    client.close();
  }
});

test.run();
