// `npx tether <command>`: the operators' command line, on the same configuration as the server.
// --json prints exactly one JSON object on stdout. Exit 0 success, 1 explained failure, 2 bad usage.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { buildServices, closeServices } from './buildServices.ts';
import { DataDirInUse } from './embedded/dataDirLock.ts';
import { checkDataDir } from './preflight.ts';
import { hashPassword } from './auth/passwords.ts';
import { passwordRefusal, PASSWORD_POLICY } from './auth/passwordPolicy.ts';
import { hashOf, hashPrefixOf, isWellFormed, prefixOf } from './sessions/sessionId.ts';
import { idleDeadline } from './sessions/idleDeadline.ts';
import type { Services } from './services.ts';
import { diagnose } from './sessions/doctor.ts';
import { DEMO_LOGIN, DemoPasswordUnknown, demoFile, ensureDemo, howToCall } from './demo.ts';

/** One command: its synopsis, what it does, the options it takes, how many positionals. */
interface Spec {
  synopsis: string;
  help: string;
  flags: readonly string[];
  args: readonly [min: number, max: number];
}

const COMMANDS: Record<string, Spec> = {
  serve: { synopsis: 'serve', help: 'run the server', flags: [], args: [0, 0] },
  migrate: { synopsis: 'migrate', help: 'apply pending sql/ migrations', flags: [], args: [0, 0] },
  demo: {
    synopsis: 'demo [--reset-password]',
    help: `makes (once) the demo OAuth client (scope admin) and the admin user demo; prints their
credentials and a curl flow. Credentials are kept per store (DATA_DIR/demo-credentials.json for the
embedded database, DATA_DIR/demo-credentials.<host>-<port>-<database>.json for a real one). A demo
client that no longer works is replaced and revoked. When the user demo exists and this DATA_DIR
keeps no working password for it, nothing is changed (exit 1) unless --reset-password is given.`,
    flags: ['reset-password'],
    args: [0, 0],
  },
  'users add': { synopsis: 'users add --login L [--name N] [--admin] --password-stdin', help: `creates a user; the password is read from standard input.\nThe password: ${PASSWORD_POLICY}`, flags: ['login', 'name', 'admin', 'password-stdin'], args: [0, 0] },
  'users list': { synopsis: 'users list', help: 'the users (no password hashes)', flags: [], args: [0, 0] },
  'users disable': { synopsis: 'users disable L', help: 'disables the user and ends all their sessions', flags: [], args: [1, 1] },
  'users enable': { synopsis: 'users enable L', help: 'lets a disabled user log in again', flags: [], args: [1, 1] },
  'users set-admin': { synopsis: 'users set-admin L true|false', help: "takes effect at the user's next call", flags: [], args: [2, 2] },
  'clients add': { synopsis: 'clients add --name N [--scopes "admin"]', help: 'creates an OAuth client; prints the client secret once. Known scopes: admin', flags: ['name', 'scopes'], args: [0, 0] },
  'clients list': { synopsis: 'clients list', help: 'the OAuth clients (never their secrets)', flags: [], args: [0, 0] },
  'clients revoke': { synopsis: 'clients revoke ID', help: 'disables the client: its tokens are refused from now on', flags: [], args: [1, 1] },
  'clients enable': {
    synopsis: 'clients enable ID',
    help: `enables a revoked client again: it gets tokens again, and tokens it was issued before the
revoke that have not expired (ACCESS_TOKEN_TTL) are accepted again`,
    flags: [],
    args: [1, 1],
  },
  'clients set-scopes': {
    synopsis: 'clients set-scopes ID "scope ..."',
    help: `sets the client's scopes ("" for none; known scopes: admin): a scope removed is refused at the
next call, one added comes with the client's next token`,
    flags: [],
    args: [2, 2],
  },
  'sessions list': {
    synopsis: 'sessions list [--user L]',
    help: `the active sessions; the ID column is what --id takes. EXPIRES_AT is the idle deadline (the
API's expires_at: last activity + SESSION_IDLE_TIMEOUT, never past the absolute end; PostgreSQL's last
activity lags by up to a minute), ABSOLUTE_EXPIRES_AT the end no activity extends`,
    flags: ['user'],
    args: [0, 0],
  },
  'sessions revoke': {
    synopsis: 'sessions revoke --id N | --session-id-stdin | <session_id>',
    help: `ends one session: by the id sessions list shows (--id), or by the raw id a user gave you,
read from standard input (--session-id-stdin: kept out of ps and the shell history) or as an argument`,
    flags: ['id', 'session-id-stdin'],
    args: [0, 1],
  },
  'sessions doctor': {
    synopsis: 'sessions doctor --session-id-stdin | <session_id> [--ua UA --ip IP --lang LANG --client-fingerprint F]',
    help: `walks the troubleshooting guide for one session, with the headers a failing request sent
(a component not given is skipped; --lang "" for a request without Accept-Language); exit 0 when
the server would accept it, 1 when not`,
    flags: ['session-id-stdin', 'ua', 'ip', 'lang', 'client-fingerprint'],
    args: [0, 1],
  },
  'webhooks add': {
    synopsis: 'webhooks add URL --events T[,T...]',
    help: `adds a webhook: session events of those types (session.opened, session.ended,
session.refused, login.throttled, or *) are POSTed to URL, signed (Tether-Signature); prints the
signing secret once`,
    flags: ['events'],
    args: [1, 1],
  },
  'webhooks list': { synopsis: 'webhooks list', help: 'the webhooks with their pending, delivered and failed counts and last outcome', flags: [], args: [0, 0] },
  'webhooks remove': { synopsis: 'webhooks remove ID', help: 'removes the webhook and its deliveries (pending ones are not sent)', flags: [], args: [1, 1] },
  'webhooks deliveries': {
    synopsis: 'webhooks deliveries [ID] [--status S]',
    help: `the latest 100 deliveries (of webhook ID; of status pending, delivered or failed), newest
first, with attempts, the last HTTP status or error and the next attempt`,
    flags: ['status'],
    args: [0, 1],
  },
  'webhooks redeliver': { synopsis: 'webhooks redeliver DELIVERY_ID', help: 'queues a delivery again (a failed one above all), due now, with a new retry window', flags: [], args: [1, 1] },
};
const GROUPS = ['users', 'clients', 'sessions', 'webhooks'] as const;

const line = (spec: Spec) => {
  const [first, ...more] = spec.help.split('\n');
  const pad = ' '.repeat(45);
  return spec.synopsis.length < 44 ? `  ${spec.synopsis.padEnd(43)}${first}${more.map((m) => `\n${pad}${m}`).join('')}` : `  ${spec.synopsis}\n${pad}${[first, ...more].join(`\n${pad}`)}`;
};

const USAGE = [
  'usage: tether <command> [--json]',
  '  help, --help, -h                           this text; `tether <command> --help` for one command',
  ...Object.values(COMMANDS).map(line),
  '',
  'Every command takes --json (then stdout is exactly one JSON object). Exit 0 success, 1 an explained',
  'failure, 2 bad usage.',
].join('\n');

/** `tether users --help`: that group's commands; `tether users add --help`: that command. */
function helpFor(command: string | undefined, action: string | undefined): string {
  if (command && COMMANDS[`${command} ${action}`]) return commandHelp(`${command} ${action}`);
  if (command && COMMANDS[command]) return commandHelp(command);
  if (command && (GROUPS as readonly string[]).includes(command)) {
    return [`usage: tether ${command} <command> [--json]`, ...Object.entries(COMMANDS).filter(([k]) => k.startsWith(`${command} `)).map(([, spec]) => line(spec))].join('\n');
  }
  return USAGE;
}

function commandHelp(key: string): string {
  const spec = COMMANDS[key];
  return [`usage: tether ${spec.synopsis} [--json]`, '', spec.help].join('\n');
}

/** The pointer a usage error ends with. */
function helpPointer(command: string | undefined, action: string | undefined): string {
  if (command && COMMANDS[`${command} ${action}`]) return `tether ${command} ${action} --help`;
  if (command && (COMMANDS[command] || (GROUPS as readonly string[]).includes(command))) return `tether ${command} --help`;
  return 'tether --help';
}

class Usage extends Error {}
/** An explained failure (exit 1); its error_code goes to the audit row. */
class Failure extends Error {
  constructor(
    message: string,
    readonly errorCode: 'NOT_FOUND' | 'CONFLICT' | 'REFUSED' = 'REFUSED',
  ) {
    super(message);
  }
}

type Flags = {
  json?: boolean;
  login?: string;
  name?: string;
  admin?: boolean;
  'password-stdin'?: boolean;
  'session-id-stdin'?: boolean;
  'reset-password'?: boolean;
  id?: string;
  scopes?: string;
  user?: string;
  ua?: string;
  ip?: string;
  lang?: string;
  'client-fingerprint'?: string;
  events?: string;
  status?: string;
};
type Out = { data: Record<string, unknown>; text: string; exitCode?: 0 | 1 };
/** What the audit row and the log line name: the object acted on (set before a failure can happen). */
type Trail = { target?: string; userId?: number; clientId?: string; reason?: string };

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

async function users(s: Services, action: string, args: string[], f: Flags, trail: Trail): Promise<Out> {
  if (action === 'add') {
    if (!f.login) throw new Usage('users add needs --login');
    if (!f['password-stdin']) throw new Usage('users add needs --password-stdin (never a password on the command line)');
    trail.target = f.login;
    const password = await readStdin('--password-stdin');
    const refusal = await passwordRefusal(password);
    if (refusal) throw new Failure(`password refused (${refusal.rule}): it ${refusal.message}`);
    if (await s.users.findByLogin(f.login)) throw new Failure(`a user with login ${f.login} already exists`, 'CONFLICT');
    const user = await s.users.create({ login: f.login, passwordHash: await hashPassword(password), name: f.name, isAdmin: f.admin ?? false });
    trail.userId = user.id;
    trail.reason = user.is_admin ? 'admin' : undefined;
    return { data: { user: { id: user.id, login: user.login, name: user.name, is_admin: user.is_admin } }, text: `user ${user.login} created (id ${user.id})` };
  }
  if (action === 'list') {
    const rows = (await s.users.list()).map((u) => ({ id: u.id, login: u.login, name: u.name, is_admin: u.is_admin, is_active: u.is_active }));
    return { data: { users: rows }, text: table(['id', 'login', 'name', 'is_admin', 'is_active'], rows) };
  }
  if (action === 'disable' || action === 'enable') {
    const login = args[0];
    trail.target = login;
    const user = await s.users.setActive(login, action === 'enable');
    if (!user) throw new Failure(`no user with login ${login}`, 'NOT_FOUND');
    trail.userId = user.id;
    const ended = action === 'disable' ? await s.sessions.endAllOfUser(user.id, 'user_disabled') : 0;
    return { data: { user: { id: user.id, login: user.login, is_active: user.is_active }, sessions_ended: ended }, text: `user ${user.login} ${action}d${action === 'disable' ? `, ${ended} session(s) ended` : ''}` };
  }
  if (action === 'set-admin') {
    const [login, value] = args;
    if (value !== 'true' && value !== 'false') throw new Usage(`users set-admin takes true or false, not ${JSON.stringify(value)}`);
    trail.target = login;
    trail.reason = `is_admin=${value}`;
    const user = await s.users.setAdmin(login, value === 'true');
    if (!user) throw new Failure(`no user with login ${login}`, 'NOT_FOUND');
    trail.userId = user.id;
    return { data: { user: { id: user.id, login: user.login, is_admin: user.is_admin } }, text: `user ${user.login} is ${user.is_admin ? 'now' : 'no longer'} an admin` };
  }
  throw new Usage(`unknown users command: ${action}`);
}

/** The scopes some method requires (today: admin): a scope no method asks for is a typo, refused. */
async function knownScopes(): Promise<Set<string>> {
  const { methods } = await import('../rpc-methods/index.ts');
  return new Set(methods.flatMap((m) => (m.requires.scope ? [m.requires.scope] : [])));
}

async function scopesOf(list: string): Promise<string[]> {
  const scopes = [...new Set(list.split(/[\s,]+/).filter(Boolean))];
  const known = await knownScopes();
  const unknown = scopes.filter((scope) => !known.has(scope));
  if (unknown.length) throw new Usage(`unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.map((x) => JSON.stringify(x)).join(', ')} (known: ${[...known].join(', ')})`);
  return scopes;
}

async function clients(s: Services, action: string, args: string[], f: Flags, trail: Trail): Promise<Out> {
  if (action === 'add') {
    if (!f.name) throw new Usage('clients add needs --name');
    const scopes = await scopesOf(f.scopes ?? '');
    const { client, secret } = await s.clients.create(f.name, scopes);
    Object.assign(trail, { target: client.id, clientId: client.id, reason: scopes.join(' ') || undefined });
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
  if (action === 'revoke' || action === 'enable') {
    const id = args[0];
    trail.target = id;
    const client = await s.clients.setActive(id, action === 'enable');
    if (!client) throw new Failure(`no client ${id}`, 'NOT_FOUND');
    trail.clientId = client.id;
    return action === 'revoke'
      ? { data: { client: { id: client.id, is_active: false } }, text: `client ${client.id} revoked: its tokens are refused from now on` }
      : { data: { client: { id: client.id, is_active: true } }, text: `client ${client.id} enabled: it gets tokens again, and its unexpired tokens are accepted again` };
  }
  if (action === 'set-scopes') {
    const [id, list] = args;
    trail.target = id;
    const scopes = await scopesOf(list);
    trail.reason = scopes.join(' ') || '(none)';
    const client = await s.clients.setScopes(id, scopes);
    if (!client) throw new Failure(`no client ${id}`, 'NOT_FOUND');
    trail.clientId = client.id;
    return { data: { client: { id: client.id, scopes: client.scopes } }, text: `client ${client.id} scopes: ${client.scopes.join(' ') || '(none)'}` };
  }
  throw new Usage(`unknown clients command: ${action}`);
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

async function sessions(s: Services, action: string, args: string[], f: Flags, trail: Trail): Promise<Out> {
  if (action === 'list') {
    let userId: number | undefined;
    if (f.user) {
      trail.target = f.user;
      const user = await s.users.findByLogin(f.user);
      if (!user) throw new Failure(`no user with login ${f.user}`, 'NOT_FOUND');
      userId = trail.userId = user.id;
    }
    const idle = s.config.sessionIdleTimeout;
    const rows = (await s.sessionRows.listActive({ userId, limit: 1000, offset: 0 })).map((r) => ({
      id: r.id,
      login: r.login,
      client_id: r.client_id,
      ip: r.ip,
      user_agent: r.user_agent,
      login_at: r.login_at,
      last_activity: r.last_activity,
      // As admin.sessions.list: expires_at is the idle deadline (`me`'s expires_at), the row's expires_at the absolute end.
      expires_at: idleDeadline(r.last_activity, r.expires_at, idle),
      absolute_expires_at: r.expires_at,
    }));
    return { data: { sessions: rows }, text: table(['id', 'login', 'client_id', 'ip', 'user_agent', 'login_at', 'last_activity', 'expires_at', 'absolute_expires_at'], rows) };
  }
  if (action === 'revoke') {
    if (f.id !== undefined) {
      if (args.length || f['session-id-stdin']) throw new Usage('sessions revoke takes one of --id N, --session-id-stdin or a session_id');
      const id = rowId(f.id);
      trail.target = `session ${id}`;
      if (!(await s.sessions.endById(id, 'revoked'))) throw new Failure(`no active session with id ${id}`, 'NOT_FOUND');
      return { data: { revoked: true, id }, text: `session ${id} revoked` };
    }
    const sessionId = await sessionIdOf(args, f, 'sessions revoke');
    if (!isWellFormed(sessionId)) throw new Failure('that is not a session_id: expected 60-100 characters of A-Z a-z 0-9 _ -');
    // The audit names a session by its hash prefix, as every audit row does, never by the id itself.
    trail.target = `session ${hashPrefixOf(hashOf(sessionId))}`;
    const ended = await s.sessions.end(hashOf(sessionId), 'revoked');
    if (!ended) throw new Failure(`no active session ${prefixOf(sessionId)}...`, 'NOT_FOUND');
    return { data: { revoked: true, session: prefixOf(sessionId) }, text: `session ${prefixOf(sessionId)}... revoked` };
  }
  if (action === 'doctor') {
    const sessionId = await sessionIdOf(args, f, 'sessions doctor');
    if (isWellFormed(sessionId)) trail.target = `session ${hashPrefixOf(hashOf(sessionId))}`;
    const diagnosis = await diagnose(s, { sessionId, ua: f.ua, ip: f.ip, lang: f.lang, clientFingerprint: f['client-fingerprint'] });
    const mark = { pass: 'ok  ', fail: 'FAIL', warn: 'warn', skip: 'skip' } as const;
    const v = diagnosis.verdict;
    trail.reason = v.valid ? 'valid' : v.error_code;
    const text = [
      `session ${diagnosis.session}`,
      ...diagnosis.steps.map((st) => `  ${mark[st.result]}  ${st.check.padEnd(18)} ${st.detail}`),
      v.valid ? `verdict: valid. ${v.remedy}` : `verdict: "${v.message}" (${v.error_code}), troubleshooting guide issue #${v.guide_issue}.
remedy: ${v.remedy}`,
    ].join('\n');
    return { data: diagnosis as unknown as Record<string, unknown>, text, exitCode: v.valid ? 0 : 1 };
  }
  throw new Usage(`unknown sessions command: ${action}`);
}

/** A positive integer id given as an argument. */
function idArg(value: string, what: string): number {
  if (!/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Usage(`${what} is a positive integer, not ${JSON.stringify(value.slice(0, 20))}`);
  return Number(value);
}

async function webhooks(s: Services, action: string, args: string[], f: Flags, trail: Trail): Promise<Out> {
  const { addHook, deliveryView, eventsOf, hookView, urlProblem } = await import('./events/webhooks.ts');
  if (action === 'add') {
    const url = args[0];
    const problem = urlProblem(url);
    if (problem) throw new Usage(`webhooks add: ${problem}`);
    if (f.events === undefined) throw new Usage('webhooks add needs --events (e.g. --events session.opened,session.ended, or --events "*")');
    const chosen = eventsOf(f.events);
    if ('problem' in chosen) throw new Usage(`webhooks add --events: ${chosen.problem}`);
    const { secret, ...webhook } = await addHook(s.webhooks, s.keys.webhookSecrets, url, chosen.events);
    trail.target = `webhook ${webhook.id}`;
    trail.reason = chosen.events.join(',');
    return {
      data: { webhook, secret },
      text: `webhook ${webhook.id} added: ${chosen.events.join(', ')} -> ${url}\nsecret: ${secret}\n(the secret is shown once: store it now; check Tether-Signature with it, see the README)`,
    };
  }
  if (action === 'list') {
    const hooks = (await s.webhooks.list()).map(hookView);
    const rows = hooks.map((h) => ({ ...h, events: h.events.join(',') }));
    return { data: { webhooks: hooks }, text: table(['id', 'url', 'events', 'active', 'pending', 'delivered', 'failed', 'last_attempt_at', 'last_status', 'last_error'], rows) };
  }
  if (action === 'remove') {
    const id = idArg(args[0], 'the webhook ID');
    trail.target = `webhook ${id}`;
    if (!(await s.webhooks.remove(id))) throw new Failure(`no webhook ${id}`, 'NOT_FOUND');
    return { data: { removed: true, id }, text: `webhook ${id} removed` };
  }
  if (action === 'deliveries') {
    const hookId = args[0] === undefined ? undefined : idArg(args[0], 'the webhook ID');
    if (f.status !== undefined && !['pending', 'delivered', 'failed'].includes(f.status)) throw new Usage(`--status is pending, delivered or failed, not ${JSON.stringify(f.status.slice(0, 20))}`);
    if (hookId !== undefined) trail.target = `webhook ${hookId}`;
    const rows = (await s.webhooks.deliveries({ hookId, status: f.status, limit: 100 })).map(deliveryView);
    return { data: { deliveries: rows }, text: table(['id', 'hook_id', 'event_id', 'event_type', 'status', 'attempts', 'last_status', 'last_error', 'next_attempt_at', 'delivered_at'], rows as unknown as Record<string, unknown>[]) };
  }
  if (action === 'redeliver') {
    const id = idArg(args[0], 'the DELIVERY_ID');
    trail.target = `delivery ${id}`;
    if (!(await s.webhooks.redeliver(id))) throw new Failure(`no delivery ${id}`, 'NOT_FOUND');
    return { data: { queued: true, id }, text: `delivery ${id} queued again` };
  }
  throw new Usage(`unknown webhooks command: ${action}`);
}

/** The demo client and user on whatever stores are configured, made once; their credentials and a curl flow. */
async function demo(s: Services, _action: string, _args: string[], f: Flags, trail: Trail): Promise<Out> {
  trail.target = DEMO_LOGIN;
  let outcome;
  try {
    outcome = await ensureDemo(s, { resetPassword: f['reset-password'] });
  } catch (err) {
    throw new Failure((err as Error).message, err instanceof DemoPasswordUnknown ? 'CONFLICT' : 'REFUSED');
  }
  const { demo: credentials, created, revoked_client_id } = outcome;
  trail.clientId = credentials.client_id;
  trail.reason = [created.client && 'client', created.user && 'user', created.password_reset && 'password_reset', revoked_client_id && `revoked ${revoked_client_id}`].filter(Boolean).join(' ') || 'unchanged';
  const host = ['0.0.0.0', '::', ''].includes(s.config.host) ? '127.0.0.1' : s.config.host.includes(':') ? `[${s.config.host}]` : s.config.host;
  const url = `http://${host}:${s.config.port}`;
  const made = [created.client && 'a new demo client', created.user && 'the user demo', created.password_reset && 'a new password for the user demo'].filter(Boolean);
  return {
    data: { ...credentials, scopes: ['admin'], created, ...(revoked_client_id ? { revoked_client_id } : {}), credentials_file: demoFile(s), url },
    text: [
      made.length ? `made: ${made.join(', ')}` : 'the demo client and user already exist (unchanged)',
      ...(revoked_client_id ? [`revoked: the demo client ${revoked_client_id} it replaces`] : []),
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

const STRING_OPTIONS = new Set(['--login', '--name', '--scopes', '--user', '--ua', '--ip', '--lang', '--client-fingerprint', '--id', '--events', '--status']);
const KNOWN_OPTIONS = new Set([...STRING_OPTIONS, '--json', '--admin', '--password-stdin', '--session-id-stdin', '--reset-password', '--help']);

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

/** Who runs the command line: `cli:<os user>`, the actor of its audit rows. */
function actorOf(): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? process.env.LOGNAME;
  }
  return `cli:${name || `uid ${process.getuid?.() ?? '?'}`}`;
}

/** One line: the message and where the usage is, never the whole usage. */
function usageLine(message: string, command?: string, action?: string): string {
  return `tether: ${message} (${helpPointer(command, action)} shows the usage)`;
}

export async function main(argv: string[]): Promise<number> {
  // The words before any option, for the pointer a usage error ends with.
  const words = argv.filter((a) => !a.startsWith('-'));
  const json = argv.includes('--json');
  const fail = (code: 1 | 2, message: string, command?: string, action?: string) => {
    if (json) console.log(JSON.stringify({ ok: false, error: message }));
    console.error(code === 2 ? usageLine(message, command, action) : `tether: ${message}`);
    return code;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: sessionIdsAsPositionals(argv),
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        login: { type: 'string' },
        name: { type: 'string' },
        admin: { type: 'boolean' },
        'password-stdin': { type: 'boolean' },
        'session-id-stdin': { type: 'boolean' },
        'reset-password': { type: 'boolean' },
        id: { type: 'string' },
        scopes: { type: 'string' },
        user: { type: 'string' },
        ua: { type: 'string' },
        ip: { type: 'string' },
        lang: { type: 'string' },
        'client-fingerprint': { type: 'string' },
        events: { type: 'string' },
        status: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    // parseArgs's own text suggests '--' and repeats the argument (a session id, maybe): one short line instead.
    const option = /'([^']+)'/.exec(e.message)?.[1];
    const message =
      e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${option}` : e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `option ${option?.split(' ')[0]} needs a value` : e.message.split('.')[0];
    return fail(2, message, words[0], words[1]);
  }
  const flags = parsed.values as Flags & { help?: boolean };
  const [command, action, ...rest] = parsed.positionals;
  // Help opens no store: it answers even where the configuration or the stores would not.
  if (flags.help || command === 'help') {
    const text = command === 'help' ? USAGE : helpFor(command, action);
    console.log(flags.json ? JSON.stringify({ ok: true, usage: text }) : text);
    return 0;
  }
  if (!command) return fail(2, 'a command is required');
  const grouped = (GROUPS as readonly string[]).includes(command);
  if (!grouped && !COMMANDS[command]) return fail(2, `unknown command: ${command}`);
  if (grouped && !action) return fail(2, `${command} needs a command: ${Object.keys(COMMANDS).filter((k) => k.startsWith(`${command} `)).map((k) => k.split(' ')[1]).join(', ')}`, command);
  const key = grouped ? `${command} ${action}` : command;
  const spec = COMMANDS[key];
  if (!spec) return fail(2, `unknown ${command} command: ${action}`, command);
  // Stray words and options this command does not take are refused, not ignored.
  const args = grouped ? rest : parsed.positionals.slice(1);
  const given = Object.keys(flags).filter((name) => name !== 'json' && name !== 'help' && flags[name as keyof Flags] !== undefined);
  const foreign = given.filter((name) => !spec.flags.includes(name));
  if (foreign.length) return fail(2, `${key} does not take --${foreign[0]}`, command, action);
  const [min, max] = spec.args;
  if (args.length > max) return fail(2, `${key} takes ${max === 0 ? 'no arguments' : `at most ${max} argument${max > 1 ? 's' : ''}`}: ${JSON.stringify(args[max].slice(0, 40))} is one too many`, command, action);
  if (args.length < min) return fail(2, `${key} needs ${spec.synopsis.split(' ').slice(key.split(' ').length).join(' ')}`, command, action);

  if (command === 'serve') {
    const { serve } = await import('./main.ts');
    await serve();
    return -1; // keeps running
  }

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
  const started = process.hrtime.bigint();
  const trail: Trail = {};
  let outcome: { status: number; errorCode?: string; exit: number };
  try {
    const run = { users, clients, sessions, webhooks } as const;
    // buildServices has already applied the migrations (or the running server had).
    const out: Out =
      command === 'migrate'
        ? { data: { migrated: true }, text: 'migrations applied' }
        : command === 'demo'
          ? await demo(services, '', args, flags, trail)
          : await run[command as (typeof GROUPS)[number]](services, action!, args, flags, trail);
    console.log(flags.json ? JSON.stringify({ ok: true, ...out.data }) : out.text);
    outcome = { status: 200, exit: out.exitCode ?? 0 };
  } catch (err) {
    // Bad usage changed nothing and is not audited, as before the stores were opened.
    if (err instanceof Usage) outcome = { status: 0, exit: fail(2, err.message, command, action) };
    else if (err instanceof Failure) outcome = { status: err.errorCode === 'NOT_FOUND' ? 404 : err.errorCode === 'CONFLICT' ? 409 : 400, errorCode: err.errorCode, exit: fail(1, err.message) };
    else outcome = { status: 500, errorCode: 'FAILED', exit: fail(1, (err as Error).message) };
  } finally {
    // An operator's change is audited like an admin call: a row in api_access_log (written before the
    // stores close) and a log line, naming the actor (cli:<os user>) and the target. Info level even
    // when LOG_LEVEL is warn, the command line's default: this line is the point.
    if (outcome! && outcome.status) audit(services, key, trail, outcome, Number(process.hrtime.bigint() - started) / 1e6);
    await closeServices(services);
  }
  return outcome!.exit;
}

function audit(services: Services, key: string, trail: Trail, outcome: { status: number; errorCode?: string }, durationMs: number): void {
  const requestId = `cli_${randomBytes(8).toString('hex')}`;
  const actor = actorOf();
  const method = `cli.${key.replace(' ', '.')}`;
  services.audit.record({
    request_id: requestId,
    method,
    status: outcome.status,
    error_code: outcome.errorCode,
    duration_ms: durationMs,
    user_id: trail.userId,
    client_id: trail.clientId,
    target_id: trail.target,
    reason: trail.reason,
    actor,
    user_agent: 'tether-cli',
  });
  const log = services.log.isLevelEnabled('info') ? services.log : services.log.child({}, { level: 'info' });
  const line = { request_id: requestId, actor, method, target: trail.target, user_id: trail.userId, client_id: trail.clientId, status: outcome.status, error_code: outcome.errorCode, reason: trail.reason };
  if (outcome.status === 200) log.info(line, `[CLI] ${key}`);
  else log.warn(line, `[CLI] ${key} refused`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  });
}
