// The Postman collection in postman/, run with newman's Node API against a live server: every Postman
// test in it must pass (token, login storing session_id, protected calls, the refusals, logout).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import newman from 'newman';
import { fileURLToPath } from 'node:url';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { newClient, newUser } from '../support/fixtures.ts';

const collection = fileURLToPath(new URL('../../postman/tether.postman_collection.json', import.meta.url));
const environment = fileURLToPath(new URL('../../postman/tether.postman_environment.json', import.meta.url));

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

function runCollection(envVar: { key: string; value: string }[]) {
  return new Promise<Parameters<Parameters<typeof newman.run>[1]>[1]>((resolve, reject) => {
    newman.run({ collection, environment, envVar, reporters: 'cli', timeoutRequest: 10_000 }, (error, summary) => (error ? reject(error) : resolve(summary)));
  });
}

test('newman runs the Postman collection against a live Tether: every assertion passes', async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  const summary = await runCollection([
    { key: 'base_url', value: t.url },
    { key: 'client_id', value: app.id },
    { key: 'client_secret', value: app.secret },
    { key: 'login', value: user.login },
    { key: 'password', value: user.password },
  ]);
  const failures = summary.run.failures.map((f) => `${f.source?.name}: ${f.error.test ?? ''} ${f.error.message}`);
  assert.equal(failures, [], failures.join('\n'));
  assert.ok(summary.run.stats.assertions.total > 40, `${summary.run.stats.assertions.total} assertions`);
  assert.is(summary.run.stats.assertions.failed, 0);
  assert.is(summary.run.stats.requests.failed, 0);
  // The hijack request really reached the session check and was logged as one.
  assert.ok(t.logsMatching('[SESSION HIJACKING DETECTED - USER-AGENT MISMATCH]').length > 0);
});

test.run();
