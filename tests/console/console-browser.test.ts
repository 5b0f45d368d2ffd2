// The operator console in a real browser (Debian's chromium, headless, through playwright-core) against
// real Tethers over real HTTP: sign in (an ordinary session of the built-in console client, in an
// HttpOnly SameSite=Strict cookie), revoke a session and see its client refused, disable a user, create
// a client and see its secret once, filter the audit, caller-supplied text shown as text (no script
// runs), the CSP, the re-authentication prompt, CONSOLE=off, and cross-site requests refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newUser, tokenFor, unique } from '../support/fixtures.ts';
import { CHROMIUM_MISSING, findChromium, launchBrowser, type Browser } from '../support/browser.ts';
import { SKIP_MARK } from '../support/modes.ts';
import { CONSOLE_CLIENT_ID } from '../../server/console/consoleClient.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../server/http/app.ts';
import { consoleRoute } from '../../server/http/consoleRoute.ts';
import { createRegistry } from '../../server/rpc/registry.ts';
import { methods } from '../../rpc-methods/index.ts';

const XSS = '<img src=x onerror=window.__xss=1>';
const REAUTH_WINDOW = 3;

const chromiumPath = findChromium();
if (!chromiumPath && process.env.CI === 'true') throw new Error(`${CHROMIUM_MISSING} (CI=true: .ci/run installs Debian's chromium)`);

let t: TestTether;
/** A second Tether with a short ADMIN_REAUTH_WINDOW; also the "other site" of the cross-site tests. */
let short: TestTether;
let b: Browser;
let admin: { id: number; login: string; password: string };

const run = (name: string, fn: () => Promise<void>) => {
  if (chromiumPath) return test(name, fn);
  test.skip(name, fn);
  console.log(`${SKIP_MARK}${name} (${CHROMIUM_MISSING})`);
};

test.before(async () => {
  if (!chromiumPath) return;
  [t, short, b] = await Promise.all([startTestTether(), startTestTether({ ADMIN_REAUTH_WINDOW: String(REAUTH_WINDOW) }), launchBrowser(chromiumPath)]);
  admin = await newUser(t, { admin: true, login: unique('console_admin') });
});
test.after(async () => {
  await Promise.all([b?.close(), t?.close(), short?.close()]);
});

async function signIn(tether: TestTether, user: { login: string; password: string }): Promise<void> {
  const { page } = b;
  await page.goto(`${tether.url}/console/`);
  // Signed in already (a cookie of 127.0.0.1, whichever port: in real mode both Tethers share the stores)? Out first.
  await page.waitForSelector('#signin, #who-login');
  if (await page.locator('#who-login').count()) {
    // That session's proof may be too old for this Tether's window: the prompt is cancelled first.
    if (await page.locator('#reauth[open]').count()) await page.click('#reauth-cancel');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('#signin');
  }
  await page.fill('#login', user.login);
  await page.fill('#password', user.password);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#who-login');
}

/** Goes to a page of the console and waits for its table. */
async function open(tether: TestTether, name: string): Promise<void> {
  await b.page.goto(`${tether.url}/console/#/${name}`);
  await b.page.waitForSelector(name === 'overview' ? '#tile-active' : name === 'feed' ? '#feed-state' : 'main table');
}

/** Submits a filter form and waits until the table it replaces is gone (the new one then drawn). */
async function filterBy(form: string): Promise<void> {
  const before = await b.page.$('main table');
  await b.page.click(`${form} button[type=submit]`);
  if (before) await b.page.waitForFunction((table) => !table.isConnected, before);
  await b.page.waitForSelector('main table');
}

const consoleSessionsOf = async (tether: TestTether, userId: number) =>
  (await tether.services.sessionRows.listActive({ userId, limit: 50, offset: 0 })).filter((s) => s.client_id === CONSOLE_CLIENT_ID);

run('sign in: an admin login opens an ordinary session of the console client, held in an HttpOnly SameSite=Strict cookie', async () => {
  const response = await b.page.goto(`${t.url}/console/`);
  assert.is(response?.status(), 200);
  await b.page.waitForSelector('#signin');
  await b.screenshot('signin');
  // A wrong password is refused with the catalogue's message, and no cookie is set.
  await b.page.fill('#login', admin.login);
  await b.page.fill('#password', 'wrong-password');
  await b.page.click('#signin button[type=submit]');
  await b.page.waitForFunction(() => document.getElementById('signin-error')?.textContent?.includes('Invalid credentials'));
  assert.is((await b.context.cookies(t.url)).length, 0);

  await signIn(t, admin);
  await b.page.waitForSelector('#tile-active');
  const cookies = await b.context.cookies(`${t.url}/console/`);
  assert.is(cookies.length, 1);
  const [cookie] = cookies;
  assert.is(cookie.name, 'tether_console');
  assert.ok(cookie.httpOnly, 'HttpOnly');
  assert.is(cookie.sameSite, 'Strict');
  assert.is(cookie.path, '/console');
  assert.is(cookie.secure, false, 'plain HTTP here: Secure only on HTTPS');
  // The page's script cannot read it; the session id never reached the page.
  assert.is(await b.page.evaluate(() => document.cookie), '');
  assert.not.ok((await b.page.content()).includes(cookie.value));
  // An ordinary session: in the sessions table, bound to the browser's user agent.
  const rows = await consoleSessionsOf(t, admin.id);
  assert.is(rows.length, 1);
  assert.match(rows[0].user_agent, /Chrome/);
  await b.screenshot('overview');
});

run('every console answer carries the strict CSP, X-Frame-Options DENY and nosniff', async () => {
  for (const path of ['/console/', '/console/app.js', '/console/console.css', '/console/nothing-here']) {
    const response = await fetch(t.url + path);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.ok(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'"), `${path}: ${csp}`);
    assert.not.ok(/unsafe-inline|unsafe-eval/.test(csp), csp);
    assert.is(response.headers.get('x-frame-options'), 'DENY');
    assert.is(response.headers.get('x-content-type-options'), 'nosniff');
  }
  // The page holds no inline script or style for the CSP to allow.
  const html = await (await fetch(`${t.url}/console/`)).text();
  assert.not.match(html, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.not.match(html, /\sstyle=|\son[a-z]+=/i);
  // The browser enforced it: no CSP violation was reported while the pages ran.
  const violations = await b.page.evaluate(() => (window as unknown as { __violations?: number }).__violations ?? 0);
  assert.is(violations, 0);
});

run('sessions: revoking a session in the console ends it: its client\'s next call over HTTP is refused', async () => {
  const victim = await loggedIn(t);
  assert.is((await victim.call('me')).body.result.user.id, victim.user.id);
  await open(t, 'sessions');
  await b.page.fill('#session-filters input[name=user]', victim.user.login);
  await b.page.click('#session-filters button[type=submit]');
  const row = b.page.locator('tr', { hasText: victim.user.login });
  await row.waitFor();
  assert.is(await row.count(), 1);
  await b.screenshot('sessions');
  await row.getByRole('button', { name: 'Revoke', exact: true }).click();
  await b.page.waitForFunction(() => document.getElementById('notice')?.textContent?.includes('1 session ended'));
  const refused = await victim.call('me');
  assert.is(refused.body.error?.data?.error_code, 'SESSION_REQUIRED');
  assert.is(refused.body.error?.status, 401);
});

run('caller-supplied text (a user agent, a method name) holding markup is shown as text and runs nothing', async () => {
  const hostile = await loggedIn(t, { headers: { 'user-agent': XSS } });
  assert.ok((await hostile.call('me')).body.result);
  const unknown = await t.rpc(XSS, {}, hostile.headers);
  assert.is(unknown.body.error?.code, -32601);

  await open(t, 'sessions');
  await b.page.fill('#session-filters input[name=user]', hostile.user.login);
  await b.page.click('#session-filters button[type=submit]');
  await b.page.locator('td', { hasText: XSS }).first().waitFor();
  assert.is(await b.page.locator('td', { hasText: XSS }).first().textContent(), XSS);

  await open(t, 'audit');
  await b.page.fill('#audit-filters input[name=method]', XSS);
  await filterBy('#audit-filters');
  // At least this file's row (on the shared real stores, earlier runs' too): every one the method as text.
  await b.page.waitForFunction(() => /page 1, [1-9]\d* rows/.test(document.getElementById('audit-page')?.textContent ?? ''));
  const methods = await b.page.locator('tbody tr td:nth-child(2)').allTextContents();
  assert.ok(methods.length >= 1 && methods.every((m) => m === XSS), methods.join(' | '));
  const cells = await b.page.locator('tbody tr').first().locator('td').allTextContents();
  assert.ok(cells.includes(XSS), `method as text: ${cells.join(' | ')}`);
  // Shown, and never parsed: no image element anywhere, and the handler never ran.
  assert.is(await b.page.locator('main img').count(), 0);
  assert.is(await b.page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), undefined);
  await b.screenshot('audit');
});

run('users: create one, reset a password (the policy\'s refusal shown), disable one (their sessions end)', async () => {
  await open(t, 'users');
  const login = unique('made_in_console');
  await b.page.fill('#user-create input[name=login]', login);
  await b.page.fill('#user-create input[name=password]', `Console-${unique('pw')}`);
  await b.page.click('#user-create button[type=submit]');
  await b.page.locator(`tr[data-login="${login}"]`).waitFor();
  assert.ok(await t.services.users.findByLogin(login));

  const victim = await loggedIn(t);
  await b.page.reload();
  const row = b.page.locator(`tr[data-login="${victim.user.login}"]`);
  await row.waitFor();
  // A password the policy refuses: its message is shown as the server gave it.
  await row.locator('input[name=new_password]').fill('short');
  await row.getByRole('button', { name: 'Set password' }).click();
  await b.page.waitForFunction(() => document.getElementById('notice')?.className.includes('error'));
  const message = (await b.page.locator('#notice').textContent()) ?? '';
  assert.match(message, /new_password/);
  assert.ok((await victim.call('me')).body.result, 'a refused reset changes nothing');

  await row.getByRole('button', { name: 'Disable' }).click();
  await b.page.locator(`tr[data-login="${victim.user.login}"] .badge.bad`).waitFor();
  await b.screenshot('users');
  assert.is((await t.services.users.findById(victim.user.id))?.is_active, false);
  const refused = await victim.call('me');
  assert.is(refused.body.error?.status, 401);
  const login2 = await t.rpc('users.login', { login: victim.user.login, password: victim.user.password }, victim.headers);
  assert.is(login2.body.error?.data?.error_code, 'USER_INACTIVE');

  // Enabled again, and made an admin.
  await b.page.locator(`tr[data-login="${victim.user.login}"]`).getByRole('button', { name: 'Enable' }).click();
  await b.page.locator(`tr[data-login="${victim.user.login}"] .badge.good`).waitFor();
  await b.page.locator(`tr[data-login="${victim.user.login}"]`).getByRole('button', { name: 'Make admin' }).click();
  await b.page.locator(`tr[data-login="${victim.user.login}"]`).getByRole('button', { name: 'Remove admin' }).waitFor();
  const back = await t.services.users.findById(victim.user.id);
  assert.ok(back?.is_active && back.is_admin);
});

run('clients: create one with a known scope; its secret is shown once, works, and is gone after', async () => {
  await open(t, 'clients');
  const name = unique('console_client');
  await b.page.fill('#client-create input[name=name]', name);
  await b.page.check('#client-create input[name=scope][value=admin]');
  await b.page.click('#client-create button[type=submit]');
  const secret = (await b.page.locator('#secret-value').textContent()) ?? '';
  assert.match(secret, /^tsec_[A-Za-z0-9_-]{43}$/);
  await b.screenshot('clients');
  const made = (await t.services.clients.list()).find((c) => c.name === name);
  assert.ok(made);
  assert.equal(made.scopes, ['admin']);
  // The secret works at the token endpoint.
  assert.ok(await tokenFor(t, { id: made.id, secret }));
  // Dismissed, and never again: not in the page, not after a reload, not in the list's answer.
  await b.page.getByRole('button', { name: 'I have copied it' }).click();
  assert.is(await b.page.locator('#secret-value').count(), 0);
  await b.page.reload();
  await b.page.locator(`tr[data-client="${made.id}"]`).waitFor();
  assert.not.ok((await b.page.content()).includes(secret));
  // The built-in console client is listed, and offers no secret to rotate.
  assert.ok(await b.page.locator(`tr[data-client="${CONSOLE_CLIENT_ID}"]`, { hasText: 'built in' }).count());
});

run('webhooks: add one (its secret shown once); deliveries and failures are listed with their last error', async () => {
  // A receiver that takes everything, and an address where nothing listens (a port just closed).
  const received: string[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  try {
    await signIn(t, admin);
    await b.page.goto(`${t.url}/console/#/webhooks`);
    await b.page.waitForSelector('#webhook-add');
    const added: number[] = [];
    // The hooks' ids, in the order added: the receiver's, then the closed port's.
    for (const url of [`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, `http://127.0.0.1:${closedPort}/down`]) {
      await b.page.fill('#webhook-add input[name=url]', url);
      await b.page.click('#webhook-add button[type=submit]');
      await b.page.waitForSelector('#webhook-secret-value');
      const secret = (await b.page.textContent('#webhook-secret-value')) ?? '';
      assert.ok(secret.length >= 20, `a secret shown: ${secret.length} characters`);
      await b.page.getByRole('button', { name: 'I have copied it' }).click();
      assert.is(await b.page.locator('#webhook-secret-value').count(), 0, 'the secret is gone once dismissed');
      assert.not.ok((await b.page.content()).includes(secret), 'nowhere on the page any more');
      added.push(Math.max(...(await t.services.webhooks.list()).map((w) => Number(w.id))));
    }
    // A session opened is an event for both hooks.
    await loggedIn(t);
    let delivered = 0;
    let failing = 0;
    for (const until = Date.now() + 60_000; (delivered === 0 || failing === 0) && Date.now() < until; ) {
      // The page reads the deliveries when it opens: a reload reads them again (a goto to the same #/ route would not).
      await b.page.reload();
      await b.page.waitForSelector('#delivery-list table, #delivery-list p');
      delivered = await b.page.locator(`#delivery-list tr[data-status=delivered]`).count();
      failing = await b.page.locator('#delivery-list tr[data-status=pending], #delivery-list tr[data-status=failed]').filter({ hasText: /ECONNREFUSED|refused|connect/i }).count();
      if (delivered === 0 || failing === 0) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(delivered >= 1, 'a delivery to the receiver is listed as delivered');
    assert.ok(failing >= 1, 'a delivery to the closed port is listed with its connection error');
    assert.ok(received.length >= 1, 'the receiver got it');
    const hookRow = b.page.locator(`#webhook-list tr[data-webhook="${added[1]}"]`);
    assert.match((await hookRow.textContent()) ?? '', /ECONNREFUSED|refused|connect/i, 'the failing hook shows its last error');
    await b.screenshot('webhooks');
  } finally {
    // The shared database's later events are not queued for these hooks.
    for (const w of await t.services.webhooks.list()) if (w.url.includes('127.0.0.1')) await t.services.webhooks.remove(Number(w.id));
    receiver.close();
  }
});

run('audit: filtered by method and status, one page at a time', async () => {
  await open(t, 'audit');
  await b.page.fill('#audit-filters input[name=method]', 'admin.clients.create');
  await b.page.fill('#audit-filters input[name=status]', '200');
  await filterBy('#audit-filters');
  const methods = await b.page.locator('tbody tr td:nth-child(2)').allTextContents();
  assert.ok(methods.length >= 1);
  assert.ok(methods.every((m) => m === 'admin.clients.create'), methods.join(', '));
  // The row names who did it: the console's client and the admin.
  const cells = await b.page.locator('tbody tr').first().locator('td').allTextContents();
  assert.ok(cells.includes(CONSOLE_CLIENT_ID) && cells.includes(String(admin.id)), cells.join(' | '));

  // By user and client: only this admin's console calls.
  await b.page.fill('#audit-filters input[name=method]', '');
  await b.page.fill('#audit-filters input[name=status]', '');
  await b.page.fill('#audit-filters input[name=user_id]', String(admin.id));
  await b.page.fill('#audit-filters input[name=client_id]', CONSOLE_CLIENT_ID);
  await b.page.selectOption('#audit-filters select[name=limit]', '10');
  await filterBy('#audit-filters');
  await b.page.waitForFunction(() => /page 1, 10 rows/.test(document.getElementById('audit-page')?.textContent ?? ''));
  const users = await b.page.locator('tbody tr td:nth-child(6)').allTextContents();
  assert.ok(users.every((u) => u === String(admin.id)), users.join(','));
  // Paged: the next page holds older rows of the same filter.
  const firstPageIds = await b.page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-audit'))));
  await b.page.getByRole('button', { name: 'Next page' }).click();
  await b.page.waitForFunction(() => /page 2, /.test(document.getElementById('audit-page')?.textContent ?? ''));
  const secondPageIds = await b.page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-audit'))));
  assert.ok(secondPageIds.length > 0 && secondPageIds.every((id) => !firstPageIds.includes(id)));
  // By time: from an hour ahead, nothing.
  const ahead = new Date(Date.now() + 3_600_000);
  const local = new Date(ahead.getTime() - ahead.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
  await b.page.fill('#audit-filters input[name=from]', local);
  await filterBy('#audit-filters');
  await b.page.waitForFunction(() => /page 1, 0 rows/.test(document.getElementById('audit-page')?.textContent ?? ''));
});

run('the live feed shows session events as they happen (opened, ended with its reason); the overview counts them', async () => {
  await open(t, 'feed');
  await b.page.waitForFunction(() => document.getElementById('feed-state')?.textContent === 'feed: connected');
  const someone = await loggedIn(t);
  const opened = b.page.locator('li[data-type="session.opened"]', { hasText: `client ${someone.client.id}` });
  await opened.waitFor();
  await someone.call('users.logout');
  const ended = b.page.locator('li[data-type="session.ended"]', { hasText: `client ${someone.client.id}` });
  await ended.waitFor();
  assert.match((await ended.textContent()) ?? '', /reason logout/);
  await b.screenshot('feed');

  await open(t, 'overview');
  assert.ok(await b.page.locator('svg.chart').count());
  await b.page.waitForFunction(() => document.getElementById('live-state')?.textContent === 'feed: connected');
  const other = await loggedIn(t);
  await b.page.waitForFunction(() => (document.getElementById('live-events')?.textContent ?? '').includes('session.opened'));
  assert.ok(other.sessionId);
});

run('cross-site requests cannot act: a foreign Origin, a form posted from another site, a no-cors fetch', async () => {
  const victim = await loggedIn(t);
  const [session] = await consoleSessionsOf(t, admin.id);
  assert.ok(session, 'the console is signed in');
  const cookie = `tether_console=${(await b.context.cookies(`${t.url}/console/`))[0].value}`;
  const revokeAll = JSON.stringify({ method: 'admin.sessions.revoke', params: { user_id: victim.user.id } });
  const ua = (await b.page.evaluate(() => navigator.userAgent)) as string;
  // With the right cookie (and fingerprint) but a foreign Origin: refused before any call.
  const foreign = await fetch(`${t.url}/console/api/rpc`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tether-console': '1', origin: 'https://evil.example', cookie, 'user-agent': ua, 'accept-language': 'en-US' }, body: revokeAll });
  assert.is(foreign.status, 403);
  // Without the console's header (what a form sends): refused.
  const formLike = await fetch(`${t.url}/console/api/rpc`, { method: 'POST', headers: { 'content-type': 'text/plain', origin: t.url, cookie, 'user-agent': ua }, body: revokeAll });
  assert.is(formLike.status, 403);

  // From a page of another origin (the second Tether), in the same browser holding the cookie.
  await b.page.goto(`${short.url}/healthz`);
  await b.page.evaluate(
    ({ target, body }) => {
      void fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body });
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = target;
      form.enctype = 'text/plain';
      const input = document.createElement('input');
      input.name = body.slice(0, -2) + ',"x":"';
      input.value = '"}';
      form.appendChild(input);
      document.body.appendChild(form);
      form.submit();
    },
    { target: `${t.url}/console/api/rpc`, body: revokeAll },
  );
  await b.page.waitForURL(`${t.url}/console/api/rpc`);
  assert.match((await b.page.content()) ?? '', /Console requests come from the console's own page only/);
  // Nothing happened: the victim's session lives, and the refusals are audited.
  assert.ok((await victim.call('me')).body.result, 'the victim session is still active');
  await t.services.audit.flush();
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_access_log where method = 'POST /console/api/rpc' and reason = 'cross-site' and at > now() - interval '5 minutes'`;
  assert.ok(n >= 3, `cross-site refusals audited: ${n}`);
});

run('re-authentication: after ADMIN_REAUTH_WINDOW an admin action asks for the password, then goes on', async () => {
  const other = await newUser(short, { admin: true });
  await signIn(short, other);
  await b.page.waitForSelector('#tile-active');
  const [before] = await consoleSessionsOf(short, other.id);
  // Past the window: the next admin call is refused with REAUTH_REQUIRED, and the prompt opens.
  await new Promise((resolve) => setTimeout(resolve, (REAUTH_WINDOW + 1.5) * 1000));
  await b.page.goto(`${short.url}/console/#/users`);
  await b.page.waitForSelector('#reauth[open]');
  assert.match((await b.page.locator('#reauth-text').textContent()) ?? '', /password proof/);
  await b.screenshot('reauth');
  await b.page.fill('#reauth-password', 'not-the-password');
  await b.page.click('#reauth-submit');
  await b.page.waitForFunction(() => (document.getElementById('reauth-error')?.textContent ?? '') !== '');
  await b.page.fill('#reauth-password', other.password);
  await b.page.click('#reauth-submit');
  await b.page.waitForSelector(`tr[data-login="${other.login}"]`);
  assert.is(await b.page.locator('#reauth[open]').count(), 0);
  // sessions.reauthenticate gave a new session (the old one ended), still in the HttpOnly cookie.
  const after = await consoleSessionsOf(short, other.id);
  assert.is(after.length, 1);
  assert.is.not(after[0].id, before.id);
  await short.services.audit.flush();
  const [{ n }] = await short.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_access_log where error_code = 'REAUTH_REQUIRED' and user_id = ${other.id}`;
  assert.ok(n >= 1);
});

run('sign out ends the session; a revoked console session sends the page back to sign-in', async () => {
  // Cookies are per host, not per port: signing in on the second Tether (127.0.0.1 too) replaced this one's.
  await signIn(t, admin);
  const before = await consoleSessionsOf(t, admin.id);
  await b.page.getByRole('button', { name: 'Sign out' }).click();
  await b.page.waitForSelector('#signin');
  // The newest (this browser's) is ended; the first test's, whose cookie the other Tether replaced, lives on.
  const after = await consoleSessionsOf(t, admin.id);
  assert.is(after.length, before.length - 1);
  assert.not.ok(after.some((s) => s.id === before[0].id));
  assert.is((await b.context.cookies(`${t.url}/console/`)).length, 0);

  await signIn(t, admin);
  const [session] = await consoleSessionsOf(t, admin.id);
  await t.services.sessions.endById(session.id, 'revoked');
  await b.page.goto(`${t.url}/console/#/users`);
  await b.page.waitForSelector('#signin');
});

run('CONSOLE=off: every /console path answers 404', async () => {
  // The same app as the server builds, on this file's stores, with the console switched off.
  const services = { ...t.services, config: { ...t.services.config, console: false } };
  const registry = createRegistry(methods);
  const server = http.createServer(createApp(services, registry, [consoleRoute(registry)]).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const [method, path] of [['GET', '/console/'], ['GET', '/console/app.js'], ['POST', '/console/api/login'], ['GET', '/console']] as const) {
      const response = await fetch(url + path, { method, headers: { 'content-type': 'application/json', 'x-tether-console': '1', origin: url }, body: method === 'POST' ? '{}' : undefined, redirect: 'manual' });
      assert.is(response.status, 404, `${method} ${path}`);
      assert.is(response.headers.get('set-cookie'), null);
    }
    // And on: the same app serves it.
    assert.is((await fetch(`${t.url}/console/`)).status, 200);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test.run();
