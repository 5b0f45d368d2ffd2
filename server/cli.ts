// `npx tether <command>`: the operators' command line, on the same configuration as the server.
// --json prints exactly one JSON object on stdout. Exit 0 success, 1 explained failure, 2 bad usage.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { buildServices, closeServices } from './buildServices.ts';
import { DataDirInUse } from './embedded/dataDirLock.ts';
import { checkDataDir } from './preflight.ts';
import { hashPassword } from './auth/passwords.ts';
import { passwordRefusal, PASSWORD_POLICY } from './auth/passwordPolicy.ts';
import { hashOf, isWellFormed, prefixOf } from './sessions/sessionId.ts';
import type { Services } from './services.ts';
import { diagnose } from './sessions/doctor.ts';
import { demoFile, ensureDemo, howToCall } from './demo.ts';

const USAGE = `usage: tether <command> [--json]
  help, --help, -h                           this text
  serve                                      run the server
  migrate                                    apply pending sql/ migrations
  demo                                       makes (once) the demo OAuth client (scope admin) and the admin
                                             user demo; prints their credentials and a curl flow
  users add --login L [--name N] [--admin] --password-stdin
                                             the password: ${PASSWORD_POLICY}
  users list
  users disable L                            disables the user and ends all their sessions
  users enable L
  users set-admin L true|false               takes effect at the user's next call
  clients add --name N [--scopes "admin"]    prints the client secret once
  clients list
  clients revoke ID                          disables the client: its tokens are refused
  clients set-scopes ID "scope ..."          a scope removed is refused at the next call; one
                                             added comes with the client's next token
  sessions list [--user L]                   the ID column is what --id takes
  sessions revoke --id N                     ends one session by the id sessions list shows
  sessions revoke --session-id-stdin         ends one session by the raw id a user gave you, read from
                                             standard input (kept out of ps and the shell history)
  sessions revoke <session_id>               the same, the raw id as an argument
  sessions doctor --session-id-stdin | <session_id> [--ua UA --ip IP --lang LANG --client-fingerprint F]
                                             walks the troubleshooting guide for one session;
                                             exit 0 when the server would accept it, 1 when not`;

class Usage extends Error {}
class Failure extends Error {}

type Flags = {
  json: boolean;
  login?: string;
  name?: string;
  admin: boolean;
  'password-stdin': boolean;
  'session-id-stdin': boolean;
  id?: string;
  scopes?: string;
  user?: string;
  ua?: string;
  ip?: string;
  lang?: string;
  'client-fingerprint'?: string;
};
type Out = { data: Record<string, unknown>; text: string; exitCode?: 0 | 1 };

async function readStdin(flag: '--password-stdin' | '--session-id-stdin'): Promise<string> {
  if (process.stdin.isTTY) throw new Usage(`${flag} reads from standard input: pipe it in`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Tab-separated, a header line of upper-case column names first (the keys of --json's objects). */
const table = (columns: readonly string[], rows: Record<string, unknown>[]) =>
  [
    columns.map((c) => c.toUpperCase()).join('\t'),
    ...rows.map((r) => columns.map((c) => (r[c] instanceof Date ? (r[c] as Date).toISOString() : String(r[c] ?? ''))).join('\t')),
    ...(rows.length ? [] : ['(none)']),
  ].join('\n');

async function users(s: Services, action: string | undefined, args: string[], f: Flags): Promise<Out> {
  if (action === 'add') {
    if (!f.login) throw new Usage('users add needs --login');
    if (!f['password-stdin']) throw new Usage('users add needs --password-stdin (never a password on the command line)');
    const password = await readStdin('--password-stdin');
    const refusal = await passwordRefusal(password);
    if (refusal) throw new Failure(`password refused (${refusal.rule}): it ${refusal.message}`);
    if (await s.users.findByLogin(f.login)) throw new Failure(`a user with login ${f.login} already exists`);
    const user = await s.users.create({ login: f.login, passwordHash: await hashPassword(password), name: f.name, isAdmin: f.admin });
    return { data: { user: { id: user.id, login: user.login, name: user.name, is_admin: user.is_admin } }, text: `user ${user.login} created (id ${user.id})` };
  }
  if (action === 'list') {
    const rows = (await s.users.list()).map((u) => ({ id: u.id, login: u.login, name: u.name, is_admin: u.is_admin, is_active: u.is_active }));
    return { data: { users: rows }, text: table(['id', 'login', 'name', 'is_admin', 'is_active'], rows) };
  }
  if (action === 'disable' || action === 'enable') {
    const login = args[0];
    if (!login) throw new Usage(`users ${action} needs a login`);
    const user = await s.users.setActive(login, action === 'enable');
    if (!user) throw new Failure(`no user with login ${login}`);
    const ended = action === 'disable' ? await s.sessions.endAllOfUser(user.id, 'user_disabled') : 0;
    return { data: { user: { id: user.id, login: user.login, is_active: user.is_active }, sessions_ended: ended }, text: `user ${user.login} ${action}d${action === 'disable' ? `, ${ended} session(s) ended` : ''}` };
  }
  if (action === 'set-admin') {
    const [login, value] = args;
    if (!login || (value !== 'true' && value !== 'false')) throw new Usage('users set-admin needs a login and true or false');
    const user = await s.users.setAdmin(login, value === 'true');
    if (!user) throw new Failure(`no user with login ${login}`);
    return { data: { user: { id: user.id, login: user.login, is_admin: user.is_admin } }, text: `user ${user.login} is ${user.is_admin ? 'now' : 'no longer'} an admin` };
  }
  throw new Usage(`unknown users command: ${action ?? '(none)'}`);
}

const scopesOf = (list: string) => [...new Set(list.split(/[\s,]+/).filter(Boolean))];

async function clients(s: Services, action: string | undefined, args: string[], f: Flags): Promise<Out> {
  if (action === 'add') {
    if (!f.name) throw new Usage('clients add needs --name');
    const scopes = scopesOf(f.scopes ?? '');
    const { client, secret } = await s.clients.create(f.name, scopes);
    return {
      // client_id and client_secret at the top level: RFC 7591's names for a registration response.
      data: { client: { id: client.id, name: client.name, scopes: client.scopes }, client_id: client.id, client_secret: secret },
      text: `client ${client.name} created\nclient_id:     ${client.id}\nclient_secret: ${secret}\n(the secret is shown once: store it now)`,
    };
  }
  if (action === 'list') {
    const rows = (await s.clients.list()).map((c) => ({ id: c.id, name: c.name, scopes: c.scopes.join(' '), is_active: c.is_active, created_at: c.created_at }));
    return { data: { clients: rows }, text: table(['id', 'name', 'scopes', 'is_active', 'created_at'], rows) };
  }
  if (action === 'revoke') {
    const id = args[0];
    if (!id) throw new Usage('clients revoke needs a client id');
    const client = await s.clients.setActive(id, false);
    if (!client) throw new Failure(`no client ${id}`);
    return { data: { client: { id: client.id, is_active: false } }, text: `client ${client.id} revoked: its tokens are refused from now on` };
  }
  if (action === 'set-scopes') {
    const [id, list] = args;
    if (!id || list === undefined) throw new Usage('clients set-scopes needs a client id and a scope list ("" for none)');
    const client = await s.clients.setScopes(id, scopesOf(list));
    if (!client) throw new Failure(`no client ${id}`);
    return { data: { client: { id: client.id, scopes: client.scopes } }, text: `client ${client.id} scopes: ${client.scopes.join(' ') || '(none)'}` };
  }
  throw new Usage(`unknown clients command: ${action ?? '(none)'}`);
}

/** The numeric id `sessions list` shows. */
function rowId(value: string): number {
  if (!/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Usage(`--id takes the numeric id sessions list shows, not ${JSON.stringify(value.slice(0, 20))}`);
  return Number(value);
}

/** The raw session id: from standard input with --session-id-stdin (never in ps or a history), else the argument. */
async function sessionIdOf(args: string[], f: Flags, command: string): Promise<string> {
  if (f['session-id-stdin']) {
    if (args.length) throw new Usage(`${command} takes the session_id either from --session-id-stdin or as an argument, not both`);
    return (await readStdin('--session-id-stdin')).trim();
  }
  const sessionId = args[0];
  if (sessionId === undefined) throw new Usage(`${command} needs a session_id: --session-id-stdin (piped in) or as an argument`);
  return sessionId;
}

async function sessions(s: Services, action: string | undefined, args: string[], f: Flags): Promise<Out> {
  if (action === 'list') {
    let userId: number | undefined;
    if (f.user) {
      const user = await s.users.findByLogin(f.user);
      if (!user) throw new Failure(`no user with login ${f.user}`);
      userId = user.id;
    }
    const rows = (await s.sessionRows.listActive({ userId, limit: 1000, offset: 0 })).map((r) => ({
      id: r.id,
      login: r.login,
      client_id: r.client_id,
      ip: r.ip,
      user_agent: r.user_agent,
      login_at: r.login_at,
      last_activity: r.last_activity,
      expires_at: r.expires_at,
    }));
    return { data: { sessions: rows }, text: table(['id', 'login', 'client_id', 'ip', 'user_agent', 'login_at', 'last_activity', 'expires_at'], rows) };
  }
  if (action === 'revoke') {
    if (f.id !== undefined) {
      if (args.length || f['session-id-stdin']) throw new Usage('sessions revoke takes one of --id N, --session-id-stdin or a session_id');
      const id = rowId(f.id);
      if (!(await s.sessions.endById(id, 'revoked'))) throw new Failure(`no active session with id ${id}`);
      return { data: { revoked: true, id }, text: `session ${id} revoked` };
    }
    const sessionId = await sessionIdOf(args, f, 'sessions revoke');
    if (!isWellFormed(sessionId)) throw new Failure('that is not a session_id: expected 60-100 characters of A-Z a-z 0-9 _ -');
    const ended = await s.sessions.end(hashOf(sessionId), 'revoked');
    if (!ended) throw new Failure(`no active session ${prefixOf(sessionId)}...`);
    return { data: { revoked: true, session: prefixOf(sessionId) }, text: `session ${prefixOf(sessionId)}... revoked` };
  }
  if (action === 'doctor') {
    const sessionId = await sessionIdOf(args, f, 'sessions doctor');
    const diagnosis = await diagnose(s, { sessionId, ua: f.ua, ip: f.ip, lang: f.lang, clientFingerprint: f['client-fingerprint'] });
    const mark = { pass: 'ok  ', fail: 'FAIL', warn: 'warn', skip: 'skip' } as const;
    const v = diagnosis.verdict;
    const text = [
      `session ${diagnosis.session}`,
      ...diagnosis.steps.map((st) => `  ${mark[st.result]}  ${st.check.padEnd(18)} ${st.detail}`),
      v.valid ? `verdict: valid. ${v.remedy}` : `verdict: "${v.message}" (${v.error_code}), troubleshooting guide issue #${v.guide_issue}.
remedy: ${v.remedy}`,
    ].join('\n');
    return { data: diagnosis as unknown as Record<string, unknown>, text, exitCode: v.valid ? 0 : 1 };
  }
  throw new Usage(`unknown sessions command: ${action ?? '(none)'}`);
}

/** The demo client and user on whatever stores are configured, made once; their credentials and a curl flow. */
async function demo(s: Services, action: string | undefined): Promise<Out> {
  if (action !== undefined) throw new Usage('demo takes no arguments');
  let outcome;
  try {
    outcome = await ensureDemo(s);
  } catch (err) {
    throw new Failure((err as Error).message);
  }
  const { demo: credentials, created } = outcome;
  const host = ['0.0.0.0', '::', ''].includes(s.config.host) ? '127.0.0.1' : s.config.host.includes(':') ? `[${s.config.host}]` : s.config.host;
  const url = `http://${host}:${s.config.port}`;
  const made = [created.client && 'a new demo client', created.user && 'the user demo', created.password_reset && 'a new password for the user demo'].filter(Boolean);
  return {
    data: { ...credentials, scopes: ['admin'], created, credentials_file: demoFile(s), url },
    text: [
      made.length ? `made: ${made.join(', ')}` : 'the demo client and user already exist (unchanged)',
      `client_id:     ${credentials.client_id}`,
      `client_secret: ${credentials.client_secret}`,
      `login:         ${credentials.login}`,
      `password:      ${credentials.password}`,
      `(kept in ${demoFile(s)}, mode 0600; the user is an admin and the client has scope admin: not for a production database)`,
      '',
      `The whole flow against ${url} (start the server with \`make run\` first):`,
      howToCall(url, credentials),
    ].join('\n'),
  };
}

const STRING_OPTIONS = new Set(['--login', '--name', '--scopes', '--user', '--ua', '--ip', '--lang', '--client-fingerprint', '--id']);
const KNOWN_OPTIONS = new Set([...STRING_OPTIONS, '--json', '--admin', '--password-stdin', '--session-id-stdin', '--help']);

/**
 * A session id is base64url: one that reached a user before ids began with a letter or digit (or a
 * damaged one given to the doctor) may begin with '-' or '--', and parseArgs would take it for an
 * option (exit 2, "Unknown option"). Every option here is `--long` or `-h`, so an argument that is
 * not the value of a string option and is either '-' plus more than one character, or '--' plus
 * a name no option has and 20 or more characters of the session id alphabet, is a positional: it is
 * moved after '--'.
 */
export function sessionIdsAsPositionals(argv: string[]): string[] {
  if (argv.includes('--')) return argv;
  const isId = (arg: string, i: number) => {
    if (STRING_OPTIONS.has(argv[i - 1] ?? '')) return false;
    if (/^-[^-]./.test(arg)) return true;
    return /^--[A-Za-z0-9_-]{18,}$/.test(arg) && !KNOWN_OPTIONS.has(arg);
  };
  const ids = argv.filter(isId);
  if (!ids.length) return argv;
  return [...argv.filter((arg, i) => !isId(arg, i)), '--', ...ids];
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: sessionIdsAsPositionals(argv),
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        login: { type: 'string' },
        name: { type: 'string' },
        admin: { type: 'boolean', default: false },
        'password-stdin': { type: 'boolean', default: false },
        'session-id-stdin': { type: 'boolean', default: false },
        id: { type: 'string' },
        scopes: { type: 'string' },
        user: { type: 'string' },
        ua: { type: 'string' },
        ip: { type: 'string' },
        lang: { type: 'string' },
        'client-fingerprint': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`tether: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const flags = parsed.values as Flags & { help: boolean };
  const [command, action, ...rest] = parsed.positionals;
  const fail = (code: 1 | 2, message: string) => {
    if (flags.json) console.log(JSON.stringify({ ok: false, error: message }));
    console.error(`tether: ${message}${code === 2 ? `\n${USAGE}` : ''}`);
    return code;
  };
  // Help opens no store: it answers even where the configuration or the stores would not.
  if (flags.help || command === 'help') {
    console.log(flags.json ? JSON.stringify({ ok: true, usage: USAGE }) : USAGE);
    return 0;
  }
  if (!command) return fail(2, 'a command is required');

  if (command === 'serve') {
    const { serve } = await import('./main.ts');
    await serve();
    return -1; // keeps running
  }
  const run = { users, clients, sessions, demo, migrate: null } as const;
  if (!(command in run)) return fail(2, `unknown command: ${command}`);

  let services: Services;
  try {
    const config = loadConfig();
    await checkDataDir(config.dataDir); // exit 2 naming DATA_DIR, not a stack trace from deep in a store
    // Embedded with a server running on DATA_DIR: through that server's database, which it migrated.
    services = await buildServices(config, createLogger(process.env.LOG_LEVEL ?? 'warn', process.stderr as never), {
      role: 'cli',
      migrations: command === 'migrate' ? 'always' : 'unless-attached',
    });
  } catch (err) {
    if (err instanceof ConfigError) return fail(2, `configuration error: ${err.message}`);
    if (err instanceof DataDirInUse) return fail(1, `${err.message}; try again when it has finished`);
    return fail(1, `cannot open the stores: ${(err as Error).message}`);
  }
  try {
    // buildServices has already applied the migrations (or the running server had).
    const out: Out = command === 'migrate' ? { data: { migrated: true }, text: 'migrations applied' } : await run[command as 'users' | 'clients' | 'sessions' | 'demo'](services, action, rest, flags);
    console.log(flags.json ? JSON.stringify({ ok: true, ...out.data }) : out.text);
    return out.exitCode ?? 0;
  } catch (err) {
    if (err instanceof Usage) return fail(2, err.message);
    if (err instanceof Failure) return fail(1, err.message);
    return fail(1, (err as Error).message);
  } finally {
    await closeServices(services);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  });
}
