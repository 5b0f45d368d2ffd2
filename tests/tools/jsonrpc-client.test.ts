// json-rpc-2.0's own JSONRPCClient, wired the way its README shows (a send function over fetch that
// hands 200 answers to client.receive; the bearer through the client's custom params), on /jsonrpc.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JSONRPC, JSONRPCClient, JSONRPCErrorException, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { newClient, newUser, tokenFor } from '../support/fixtures.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

interface AuthToken {
  token: string;
}

/** Straight from the README's "With authentication" section, with Tether's URL. */
function readmeClient(url: string) {
  let nextID = 0;
  const createID = () => nextID++;
  const client: JSONRPCClient<AuthToken> = new JSONRPCClient<AuthToken>(
    (jsonRPCRequest, { token }) =>
      fetch(`${url}/jsonrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(jsonRPCRequest),
      }).then((response) => {
        if (response.status === 200) {
          return response.json().then((jsonRPCResponse) => client.receive(jsonRPCResponse));
        } else if (jsonRPCRequest.id !== undefined) {
          return Promise.reject(new Error(response.statusText));
        }
      }),
    createID,
  );
  return { client, createID };
}

test('JSONRPCClient: a login, a protected call, a refusal with our data, a batch with requestAdvanced', async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  const token = await tokenFor(t, app);
  const { client, createID } = readmeClient(t.url);

  const login = (await client.request('users.login', { login: user.login, password: user.password }, { token })) as { session_id: string; user: { login: string } };
  assert.is(login.user.login, user.login);
  assert.is(login.session_id.length, 80);

  const me = (await client.request('me', { session_id: login.session_id }, { token })) as { user: { id: number } };
  assert.is(me.user.id, user.id);

  try {
    await client.request('me', { session_id: 'x'.repeat(20) }, { token });
    assert.unreachable('a short session_id is refused');
  } catch (error) {
    assert.instance(error, JSONRPCErrorException);
    const e = error as JSONRPCErrorException;
    assert.is(e.message, 'Invalid session_id format (must be 60-100 characters)');
    assert.is(e.code, -32001);
    const data = e.data as { error_code: string; status: number; request_id: string; type: string };
    assert.is(data.error_code, 'SESSION_ID_FORMAT');
    assert.is(data.status, 401);
    assert.match(data.request_id, /^req_/);
  }

  const batch: JSONRPCRequest[] = [
    { jsonrpc: JSONRPC, id: createID(), method: 'system.ping' },
    { jsonrpc: JSONRPC, id: createID(), method: 'me', params: { session_id: login.session_id } },
    { jsonrpc: JSONRPC, id: createID(), method: 'me', params: {} },
  ];
  const answers = (await client.requestAdvanced(batch, { token })) as JSONRPCResponse[];
  assert.is(answers.length, 3);
  const byId = new Map(answers.map((a) => [a.id, a]));
  assert.equal((byId.get(batch[0].id!)?.result as { pong: boolean }).pong, true);
  assert.is((byId.get(batch[1].id!)?.result as { user: { id: number } }).user.id, user.id);
  const refused = byId.get(batch[2].id!)?.error;
  assert.is(refused?.message, 'Session required');
  assert.is((refused?.data as { error_code: string }).error_code, 'SESSION_REQUIRED');

  const out = (await client.request('users.logout', { session_id: login.session_id }, { token })) as { logged_out: boolean };
  assert.is(out.logged_out, true);
});

test.run();
