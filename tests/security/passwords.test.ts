// Passwords by NIST SP 800-63B 5.1.1.2, over real HTTP: NFKC-normalised before hashing and before
// checking (a hash stored before normalisation still verifies at the next login and is then replaced),
// length counted in code points of the normalised form, passwords made only of spaces or invisible
// characters refused, and the common-password list checked after trimming and normalising.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import argon2 from 'argon2';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, unique, clientHeaders, newClient, tokenFor } from '../support/fixtures.ts';
import { passwordRefusal } from '../../server/auth/passwordPolicy.ts';

let t: TestTether;
let admin: Awaited<ReturnType<typeof loggedIn>>;
let headers: Record<string, string>;

test.before(async () => {
  t = await startTestTether();
  admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  headers = clientHeaders(await tokenFor(t, await newClient(t)));
});
test.after(async () => {
  await t?.close();
});

const create = (password: string, login = unique('pw')) => admin.call('admin.users.create', { login, password });

function refused(res: { body: any; text: string }, rule: string) {
  assert.ok(res.body.error, `refused: ${res.text.slice(0, 300)}`);
  assert.is(res.body.error.code, -32602);
  assert.is(res.body.error.data.field, 'password');
  assert.is(res.body.error.data.rule, rule, res.text.slice(0, 300));
}

test('only spaces or invisible characters -> refused (rule "invisible"), 8 spaces and 8 zero-width characters included', async () => {
  for (const password of [
    ' '.repeat(8),
    '\u200b'.repeat(8), // zero-width space
    '\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f', // ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen, LRM, RLM
    '\u3000'.repeat(8), // ideographic space
    '\t \u00a0\u2003\u3164\u115f\u180e\u034f', // tab, no-break and em space, Hangul fillers, Mongolian vowel separator, CGJ
    '\u0301'.repeat(9), // combining accents with nothing to combine with
  ]) {
    refused(await create(password), 'invisible');
  }
  // A visible character among them is a password like any other.
  const res = await create(' '.repeat(7) + 'x' + '\u200b'.repeat(4) + 'Q7#');
  assert.ok(res.body.result, res.text);
});

test('the common-password list is checked after trimming and normalising: "password ", " password", full-width "ＰＡＳＳＷＯＲＤ" refused', async () => {
  for (const password of ['password ', ' password', '  sunshine\t', 'ＰＡＳＳＷＯＲＤ', 'Ｐassword1', 'iloveyou\u3000']) {
    refused(await create(password), 'common');
  }
});

test('length is counted in code points of the NFKC form: 8 decomposed "é" (16 code points typed) is 8, 3 ligatures "ﬃ" (3 typed) are 9', async () => {
  assert.is((await passwordRefusal('e\u0301'.repeat(4)))?.rule, 'min_length', 'e + combining accent, 4 times: 4 characters once composed');
  refused(await create('e\u0301'.repeat(7)), 'min_length');
  assert.ok((await create('e\u0301'.repeat(8))).body.result);
  // "ﬃ" is one code point typed and three (f f i) once normalised.
  const ligatures = await create('\ufb03\ufb03\ufb03');
  assert.ok(ligatures.body.result, ligatures.text);
  refused(await create('\ufb03\ufb03'), 'min_length');
});

test('NFKC before hashing and checking: a password set in one form logs in typed in another (decomposed / composed / compatibility)', async () => {
  const login = unique('nfkc');
  const typedAtCreation = 'Cafe\u0301-\ufb01ne-\uff34ether-42'; // decomposed é, "ﬁ" ligature, full-width Ｔ
  assert.ok((await create(typedAtCreation, login)).body.result);
  for (const typed of [typedAtCreation, 'Café-fine-Tether-42', typedAtCreation.normalize('NFC'), typedAtCreation.normalize('NFKD')]) {
    const res = await t.rpc('users.login', { login, password: typed }, headers);
    assert.ok(res.body.result?.session_id, `${JSON.stringify(typed)}: ${res.text.slice(0, 200)}`);
  }
  const [{ password_hash }] = await t.services.db.sql<{ password_hash: string }[]>`select password_hash from users where lower(login) = lower(${login})`;
  assert.ok(await argon2.verify(password_hash, 'Café-fine-Tether-42'), 'the stored hash is of the NFKC form');
  assert.not.ok(await argon2.verify(password_hash, typedAtCreation), 'not of the form as typed');
  // The same password in another form is "unchanged" for users.change_password.
  const s = await t.rpc('users.login', { login, password: 'Café-fine-Tether-42' }, headers);
  const change = await t.rpc('users.change_password', { session_id: s.body.result.session_id, current_password: 'Café-fine-Tether-42', new_password: typedAtCreation }, headers);
  assert.is(change.body.error?.data?.rule, 'unchanged', change.text.slice(0, 300));
});

test('a hash stored before normalisation (of the password as typed) still logs in, and that login stores the NFKC hash in its place', async () => {
  const login = unique('legacy');
  const typed = '\uff34\uff45\uff54\uff48\uff45\uff52-\ufb01xture-9'; // full-width "Tether", "ﬁ" ligature
  const normalised = typed.normalize('NFKC');
  assert.is.not(normalised, typed);
  const created = await create(`placeholder-${unique('x')}`, login);
  const userId = created.body.result.user.id as number;
  const legacy = await argon2.hash(typed, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  await t.services.db.sql`update users set password_hash = ${legacy} where id = ${userId}`;

  // Before: the normalised form is not what that hash holds.
  const before = await t.rpc('users.login', { login, password: normalised }, headers);
  assert.is(before.body.error?.data?.error_code, 'AUTHENTICATION_FAILED');
  // The form it was made from logs in...
  const first = await t.rpc('users.login', { login, password: typed }, headers);
  assert.ok(first.body.result?.session_id, first.text.slice(0, 300));
  // ...and the hash is replaced by the NFKC one, so every form of the password works from now on.
  const [{ password_hash }] = await t.services.db.sql<{ password_hash: string }[]>`select password_hash from users where id = ${userId}`;
  assert.is.not(password_hash, legacy, 'rehashed at that login');
  assert.ok(await argon2.verify(password_hash, normalised));
  assert.ok(t.logsMatching('[PASSWORD REHASHED]').some((l) => l.user_id === userId));
  for (const password of [normalised, typed]) {
    const res = await t.rpc('users.login', { login, password }, headers);
    assert.ok(res.body.result?.session_id, `${JSON.stringify(password)}: ${res.text.slice(0, 200)}`);
  }
  assert.is(t.logsMatching(typed).length + t.logsMatching(normalised).length, 0, 'no password in any log line');
});

test.run();
