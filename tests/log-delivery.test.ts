// Logs that reach the operator, on the real entry point at low traffic: a server child's stdout gets
// a hijack marker (a session used with another User-Agent) while nothing else happens, and an info
// line without any further traffic. Polls with a generous bound; never asserts a duration.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedEnv, eventually, rpcAt, startServer, stopServer, tokenAt, type ServerChild } from './support/child.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tether-logs-'));
let server: ServerChild;

test.before(async () => {
  server = await startServer(embeddedEnv(dataDir, { LOG_LEVEL: 'info' }));
});
test.after(async () => {
  if (server) await stopServer(server);
  rmSync(dataDir, { recursive: true, force: true });
});

test('a hijack marker and an info line reach stdout at low traffic, with no more calls after them', async () => {
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'));
  const token = (await tokenAt(server.url, demo.client_id, demo.client_secret)).body.access_token as string;
  const headers = { authorization: `Bearer ${token}`, 'user-agent': 'LogTest/1.0', 'accept-language': 'en-US' };
  const login = await rpcAt(server.url, 'users.login', { login: demo.login, password: demo.password }, headers);
  const sessionId = login.body?.result?.session_id as string;
  assert.type(sessionId, 'string', JSON.stringify(login.body));
  const hijack = await rpcAt(server.url, 'me', { session_id: sessionId }, { ...headers, 'user-agent': 'SomeoneElse/6.6' });
  assert.ok(hijack.body?.error, 'the other User-Agent is refused');
  // The last call: from here on the server gets no traffic at all.
  const marker = '[SESSION HIJACKING DETECTED - USER-AGENT MISMATCH]';
  assert.ok(await eventually(30_000, () => server.stdout().includes(marker)), `the marker reaches stdout\n${server.stdout().slice(-2000)}`);
  const ping = await rpcAt(server.url, 'system.ping', {}, {});
  assert.ok(ping.body?.result, JSON.stringify(ping.body));
  const pingLine = () => server.stdout().split('\n').some((line) => line.includes('"msg":"call"') && line.includes('"method":"system.ping"'));
  assert.ok(await eventually(30_000, pingLine), `the ping's info line reaches stdout without more traffic\n${server.stdout().slice(-2000)}`);
});

test.run();
