/**
 * `oauth2-devices clients ...`, `users ...` and `migrate`: the admin API's operations on the
 * command line, working directly on the database named by DATABASE_URL (the embedded SQLite
 * file by default) through the same module as the HTTP handlers (src/admin/), so clients can
 * be registered before the server runs. The known scopes come from the same environment
 * settings as the server's (OAUTH2_SCOPES).
 *
 * Human output by default, `--json` for scripts (the admin API's JSON). A client secret or a
 * generated password is printed once. A password is never taken from the command line (where
 * `ps` shows it): `--password-stdin` reads it, otherwise one is generated.
 *
 * Exit codes: 0 done, 1 failure (a taken id or username, the database, the configuration),
 * 4 no such client or user, 64 bad usage (unknown option, missing or invalid value).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as clients from '../admin/clients';
import * as users from '../admin/users';
import { ConfigError } from '../config/check';
import { loadConfig } from '../config/env';
import { OAuthError } from '../http/errors';
import { migrateToLatest, openDatabase, parseDatabaseUrl } from '../storage/database';
import { KnexStore } from '../storage/knex-store';
import type { ClientRecord, UserRecord } from '../storage/store';

export const ADMIN_EXIT = { ok: 0, failed: 1, notFound: 4, usage: 64 } as const;

interface Output {
  write(text: string): unknown;
}

export interface AdminIo {
  out: Output;
  err: Output;
  /** All of standard input, for --password-stdin. */
  readStdin(): Promise<string>;
}

type Values = Record<string, string | boolean | undefined>;

interface Run {
  deps: clients.AdminDeps;
  values: Values;
  /** The positional argument (a client id, or a username or user id). */
  target: string;
  json: boolean;
  io: AdminIo;
  say(text: string): void;
}

interface Command {
  /** After the group: "create --name NAME ...". */
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Takes one positional argument, named so in the usage. */
  target?: string;
  run(r: Run): Promise<void>;
}

class UsageError extends Error {}

const json = { type: 'boolean' } as const;
const str = { type: 'string' } as const;

/** The client options of create and update, mapped to the admin module's field names. */
const CLIENT_OPTIONS = {
  name: 'name',
  scopes: 'allowed_scopes',
  'default-scopes': 'default_scopes',
  'grant-types': 'grant_types',
  'can-introspect': 'can_introspect',
  'access-token-lifetime': 'access_token_lifetime',
  'refresh-token-lifetime': 'refresh_token_lifetime',
} as const;

function clientFields(values: Values): clients.ClientFields {
  const fields: Record<string, string> = {};
  for (const [option, field] of Object.entries(CLIENT_OPTIONS)) {
    if (typeof values[option] === 'string') fields[field] = values[option] as string;
  }
  return fields;
}

const lifetimeText = (seconds: number | null) => (seconds === null ? 'server default' : `${seconds} s`);

function describeClient(client: ClientRecord): string {
  return [
    `client_id:              ${client.id}`,
    `name:                   ${client.name}`,
    `type:                   ${client.type}`,
    `allowed scopes:         ${client.allowedScopes.join(' ')}`,
    `default scopes:         ${client.defaultScopes.join(' ')}`,
    `grant types:            ${client.grantTypes.join(' ')}`,
    `can introspect:         ${client.canIntrospect}`,
    `access token lifetime:  ${lifetimeText(client.accessTokenLifetime)}`,
    `refresh token lifetime: ${lifetimeText(client.refreshTokenLifetime)}`,
  ].join('\n');
}

function describeUser(user: UserRecord): string {
  return [`user_id:  ${user.id}`, `username: ${user.username}`, `name:     ${user.name}`, `email:    ${user.email ?? ''}`, `disabled: ${user.disabled}`].join('\n');
}

/** Reads the password from stdin (one trailing newline dropped), or undefined to generate one. */
async function passwordFrom(r: Run): Promise<string | undefined> {
  if (!r.values['password-stdin']) return undefined;
  const text = (await r.io.readStdin()).replace(/\r?\n$/, '');
  if (text === '') throw new UsageError('--password-stdin: standard input is empty');
  return text;
}

const SHOWN_ONCE = '(shown only now: store it safely)';

const CLIENT_COMMANDS: Record<string, Command> = {
  create: {
    usage: 'create --name NAME --type public|confidential --scopes "a b" [--id ID] [--default-scopes "a"] [--grant-types "g1 g2"] [--can-introspect true|false] [--access-token-lifetime S] [--refresh-token-lifetime S] [--json]',
    summary: 'register a client; a confidential one gets a secret, printed once',
    options: { id: str, type: str, name: str, scopes: str, 'default-scopes': str, 'grant-types': str, 'can-introspect': str, 'access-token-lifetime': str, 'refresh-token-lifetime': str, json },
    async run(r) {
      for (const required of ['name', 'type', 'scopes']) if (typeof r.values[required] !== 'string') throw new UsageError(`clients create needs --${required}`);
      const { client, secret } = await clients.createClient(r.deps, Object.assign(clientFields(r.values), { client_id: r.values.id as string | undefined, type: r.values.type as string }));
      if (r.json) return r.say(JSON.stringify(Object.assign(clients.clientView(client), secret ? { client_secret: secret } : {})));
      r.say(`Created client ${client.id}.\n${describeClient(client)}`);
      if (secret) r.say(`client_secret:          ${secret}  ${SHOWN_ONCE}`);
    },
  },
  list: {
    usage: 'list [--json]',
    summary: 'every client',
    options: { json },
    async run(r) {
      const all = await clients.listClients(r.deps);
      if (r.json) return r.say(JSON.stringify({ clients: all.map(clients.clientView) }));
      if (all.length === 0) return r.say('No clients.');
      for (const c of all) r.say(`${c.id}\t${c.type}\t${c.name}\t${c.allowedScopes.join(' ')}`);
    },
  },
  show: {
    usage: 'show CLIENT_ID [--json]',
    summary: 'one client',
    options: { json },
    target: 'CLIENT_ID',
    async run(r) {
      const client = await clients.getClient(r.deps, r.target);
      r.say(r.json ? JSON.stringify(clients.clientView(client)) : describeClient(client));
    },
  },
  update: {
    usage: 'update CLIENT_ID [--name NAME] [--scopes "a b"] [--default-scopes "a"] [--grant-types "g1 g2"] [--can-introspect true|false] [--access-token-lifetime S] [--refresh-token-lifetime S] [--json]  (a lifetime of 0: the server default)',
    summary: 'change the fields given; the others keep their values',
    options: { name: str, scopes: str, 'default-scopes': str, 'grant-types': str, 'can-introspect': str, 'access-token-lifetime': str, 'refresh-token-lifetime': str, json },
    target: 'CLIENT_ID',
    async run(r) {
      const client = await clients.updateClient(r.deps, r.target, clientFields(r.values));
      r.say(r.json ? JSON.stringify(clients.clientView(client)) : `Updated client ${client.id}.\n${describeClient(client)}`);
    },
  },
  'rotate-secret': {
    usage: 'rotate-secret CLIENT_ID [--json]',
    summary: 'a new secret for a confidential client, printed once; the old one fails at once',
    options: { json },
    target: 'CLIENT_ID',
    async run(r) {
      const { client, secret } = await clients.rotateClientSecret(r.deps, r.target);
      r.say(r.json ? JSON.stringify({ client_id: client.id, client_secret: secret }) : `New secret of client ${client.id}:\nclient_secret: ${secret}  ${SHOWN_ONCE}`);
    },
  },
  delete: {
    usage: 'delete CLIENT_ID [--json]',
    summary: 'delete a client with its device authorizations and tokens',
    options: { json },
    target: 'CLIENT_ID',
    async run(r) {
      await clients.deleteClient(r.deps, r.target);
      r.say(r.json ? JSON.stringify({ client_id: r.target, deleted: true }) : `Deleted client ${r.target} and its tokens.`);
    },
  },
};

const USER_COMMANDS: Record<string, Command> = {
  create: {
    usage: 'create --username USERNAME --name NAME [--email EMAIL] [--password-stdin] [--json]',
    summary: 'create a local account; without --password-stdin a password is generated and printed once',
    options: { username: str, name: str, email: str, 'password-stdin': { type: 'boolean' }, json },
    async run(r) {
      for (const required of ['username', 'name']) if (typeof r.values[required] !== 'string') throw new UsageError(`users create needs --${required}`);
      const password = await passwordFrom(r);
      const { user, password: generated } = await users.createUser(r.deps, {
        username: r.values.username as string,
        name: r.values.name as string,
        email: r.values.email as string | undefined,
        password,
      });
      if (r.json) return r.say(JSON.stringify(Object.assign(users.userView(user), generated ? { password: generated } : {})));
      r.say(`Created user ${user.username}.\n${describeUser(user)}`);
      if (generated) r.say(`password: ${generated}  ${SHOWN_ONCE}`);
    },
  },
  list: {
    usage: 'list [--json]',
    summary: 'every local account',
    options: { json },
    async run(r) {
      const all = await users.listUsers(r.deps);
      if (r.json) return r.say(JSON.stringify({ users: all.map(users.userView) }));
      if (all.length === 0) return r.say('No users.');
      for (const u of all) r.say(`${u.username}\t${u.id}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.name}`);
    },
  },
  show: {
    usage: 'show USERNAME|USER_ID [--json]',
    summary: 'one local account',
    options: { json },
    target: 'USERNAME|USER_ID',
    async run(r) {
      const user = await users.findUserByReference(r.deps, r.target);
      r.say(r.json ? JSON.stringify(users.userView(user)) : describeUser(user));
    },
  },
  disable: {
    usage: 'disable USERNAME|USER_ID [--json]',
    summary: 'disable an account: its tokens stop working and its sessions end at once',
    options: { json },
    target: 'USERNAME|USER_ID',
    async run(r) {
      const user = await users.setUserDisabled(r.deps, (await users.findUserByReference(r.deps, r.target)).id, true);
      r.say(r.json ? JSON.stringify(users.userView(user)) : `Disabled user ${user.username}.`);
    },
  },
  enable: {
    usage: 'enable USERNAME|USER_ID [--json]',
    summary: 'enable a disabled account again',
    options: { json },
    target: 'USERNAME|USER_ID',
    async run(r) {
      const user = await users.setUserDisabled(r.deps, (await users.findUserByReference(r.deps, r.target)).id, false);
      r.say(r.json ? JSON.stringify(users.userView(user)) : `Enabled user ${user.username}.`);
    },
  },
  'reset-password': {
    usage: 'reset-password USERNAME|USER_ID [--password-stdin] [--json]',
    summary: 'set a new password (from stdin, or generated and printed once); sessions end',
    options: { 'password-stdin': { type: 'boolean' }, json },
    target: 'USERNAME|USER_ID',
    async run(r) {
      const password = await passwordFrom(r);
      const found = await users.findUserByReference(r.deps, r.target);
      const { user, password: generated } = await users.resetPassword(r.deps, found.id, password);
      if (r.json) return r.say(JSON.stringify({ user_id: user.id, ...(generated ? { password: generated } : {}) }));
      r.say(`New password set for ${user.username}.`);
      if (generated) r.say(`password: ${generated}  ${SHOWN_ONCE}`);
    },
  },
};

const GROUPS: Record<string, Record<string, Command>> = { clients: CLIENT_COMMANDS, users: USER_COMMANDS };

export function adminUsage(): string {
  const lines = ['admin commands (on the database of DATABASE_URL; the embedded SQLite file by default):'];
  for (const [group, commands] of Object.entries(GROUPS)) {
    for (const [name, command] of Object.entries(commands)) lines.push(`  ${`${group} ${name}`.padEnd(22)} ${command.summary}`);
  }
  lines.push(`  ${'migrate'.padEnd(22)} migrate DATABASE_URL to the latest schema`);
  lines.push('run "oauth2-devices clients create --help" (and so on) for the options of each');
  lines.push('exit codes: 0 done, 1 failure, 4 no such client or user, 64 bad usage');
  return lines.join('\n');
}

function commandHelp(group: string, name: string, command: Command): string {
  return `usage: oauth2-devices ${group} ${command.usage}\n  ${command.summary}`;
}

/** Opens the database of DATABASE_URL; the schema must be current (`migrate` makes it so). */
async function withStore<T>(work: (store: KnexStore, scopes: Record<string, string>) => Promise<T>, migrate = false): Promise<T> {
  const config = loadConfig();
  const knex = openDatabase(parseDatabaseUrl(config.databaseUrl));
  const store = new KnexStore(knex);
  try {
    if (migrate) await migrateToLatest(knex);
    else {
      const [, pending] = (await knex.migrate.list()) as [unknown[], unknown[]];
      if (pending.length > 0) throw new Error(`the database schema is not current (${pending.length} migrations pending): run "oauth2-devices migrate" first`);
    }
    return await work(store, config.scopes);
  } finally {
    await store.close();
  }
}

function exitCodeOf(err: unknown, io: AdminIo): number {
  if (err instanceof UsageError) {
    io.err.write(`${err.message}\n`);
    return ADMIN_EXIT.usage;
  }
  if (err instanceof OAuthError) {
    io.err.write(`${err.error}: ${err.message}\n`);
    if (err.status === 404) return ADMIN_EXIT.notFound;
    return err.status === 400 ? ADMIN_EXIT.usage : ADMIN_EXIT.failed;
  }
  if (err instanceof ConfigError || (err instanceof Error && err.message.startsWith('DATABASE_URL'))) {
    io.err.write(`configuration error: ${err.message}\n`);
    return ADMIN_EXIT.failed;
  }
  io.err.write(`failed: ${err instanceof Error ? err.message : String(err)}\n`);
  return ADMIN_EXIT.failed;
}

/** Runs `clients ...`, `users ...` or `migrate`; resolves to the exit code. */
export async function runAdminCommand(group: string, argv: string[], io: AdminIo): Promise<number> {
  if (group === 'migrate') {
    if (argv.includes('--help')) {
      io.out.write('usage: oauth2-devices migrate\n  migrate DATABASE_URL (the embedded SQLite file by default) to the latest schema\n');
      return ADMIN_EXIT.ok;
    }
    if (argv.length > 0) {
      io.err.write(`migrate takes no arguments, got ${argv.join(' ')}\n`);
      return ADMIN_EXIT.usage;
    }
    try {
      await withStore(async () => undefined, true);
      io.out.write('The database schema is current.\n');
      return ADMIN_EXIT.ok;
    } catch (err) {
      return exitCodeOf(err, io);
    }
  }
  const commands = GROUPS[group];
  if (!commands) throw new Error(`not an admin command group: ${group}`);
  const [name, ...rest] = argv;
  const command = name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    const list = Object.entries(commands).map(([n, c]) => `  ${group} ${c.usage.startsWith(n) ? c.usage : n}`).join('\n');
    const help = name === '--help' || name === 'help';
    const problem = name === undefined ? `${group} needs a command\n` : `unknown command: ${group} ${name}\n`;
    (help ? io.out : io.err).write(`${help ? '' : problem}usage:\n${list}\n`);
    return help ? ADMIN_EXIT.ok : ADMIN_EXIT.usage;
  }
  if (rest.includes('--help')) {
    io.out.write(`${commandHelp(group, name!, command)}\n`);
    return ADMIN_EXIT.ok;
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: true });
    } catch (err) {
      throw new UsageError(`${err instanceof Error ? err.message : String(err)}\n${commandHelp(group, name!, command)}`);
    }
    const expected = command.target ? 1 : 0;
    if (parsed.positionals.length !== expected) {
      throw new UsageError(`${group} ${name} takes ${command.target ? `one ${command.target}` : 'no positional arguments'}\n${commandHelp(group, name!, command)}`);
    }
    const values = parsed.values as Values;
    return await withStore(async (store, scopes) => {
      await command.run({
        deps: { store, scopes, clock: Date.now },
        values,
        target: parsed.positionals[0] ?? '',
        json: values.json === true,
        io,
        say: (text) => io.out.write(`${text}\n`),
      });
      return ADMIN_EXIT.ok;
    });
  } catch (err) {
    return exitCodeOf(err, io);
  }
}
