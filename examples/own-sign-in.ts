/**
 * Example: use your application's own sign-in instead of the built-in local accounts (the
 * seed's `get_current_user`). Your app already knows who is signed in (here: a cookie that
 * names a session in your own session table); `getCurrentUser` tells the device flow.
 *
 * Tokens belong to users of the Store, so a person seen for the first time is recorded there,
 * with a password hash that matches no password: they can never sign in locally.
 *
 * Run it: `npx tsx examples/own-sign-in.ts`, then open http://localhost:3001/activate with the
 * cookie `corp_session=alice-session` set.
 */
import type { Context } from 'koa';
import { createApp, KnexStore, migrateToLatest, openDatabase, parseDatabaseUrl, type Store, type UserRecord } from '../src/index';

/** Your own directory and sessions; in a real app, your database or identity provider. */
export interface Directory {
  userForSession(sessionId: string): Promise<{ id: string; login: string; displayName: string; email?: string } | undefined>;
}

export function getCurrentUserFrom(directory: Directory, store: Store) {
  return async (ctx: Context): Promise<UserRecord | undefined> => {
    const sessionId = ctx.cookies.get('corp_session');
    if (!sessionId) return undefined;
    const person = await directory.userForSession(sessionId);
    if (!person) return undefined;
    const user: UserRecord = {
      id: `corp:${person.id}`,
      username: person.login,
      name: person.displayName,
      email: person.email ?? null,
      passwordHash: '!', // not a scrypt hash: never matches, so no local sign-in
      disabled: false,
    };
    await store.saveUser(user, Date.now());
    return user;
  };
}

async function main(): Promise<void> {
  const knex = openDatabase(parseDatabaseUrl('sqlite:data/example-own-sign-in.sqlite'));
  await migrateToLatest(knex);
  const store = new KnexStore(knex);
  const directory: Directory = {
    userForSession: async (id) => (id === 'alice-session' ? { id: '42', login: 'alice', displayName: 'Alice Example' } : undefined),
  };
  const { app } = await createApp({
    issuer: 'http://localhost:3001',
    store,
    secretKeys: ['example-key-change-me-0123456789abcdef'],
    getCurrentUser: getCurrentUserFrom(directory, store),
  });
  app.listen(3001, '127.0.0.1', () => console.log('http://localhost:3001/activate'));
}

if (require.main === module) void main();
