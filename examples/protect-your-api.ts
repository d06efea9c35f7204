/**
 * Example: protect routes of your own Koa API with tokens from this server (the seed's
 * `require_oauth`). `requireOAuth('scope', ...)` admits a request only with a valid, unrevoked
 * access token carrying every named scope, answers RFC 6750 errors itself, and puts the person
 * and the client on `ctx.state.oauth`.
 *
 * Run it: `npx tsx examples/protect-your-api.ts` (the embedded database of `npm start`), then
 * `curl -H "Authorization: Bearer o2d_at_..." http://localhost:3002/profile`.
 */
import Koa from 'koa';
import { createApp, KnexStore, migrateToLatest, openDatabase, parseDatabaseUrl, type OAuthContext } from '../src/index';

export async function createProtectedApi(oauth: Awaited<ReturnType<typeof createApp>>): Promise<Koa> {
  const api = new Koa();
  const needsProfile = oauth.requireOAuth('profile');
  api.use(async (ctx, next) => {
    if (ctx.path !== '/profile') return next();
    await needsProfile(ctx, async () => {
      const { user, client, scopes } = ctx.state.oauth as OAuthContext;
      ctx.body = { hello: user.name, via: client.name, scopes };
    });
  });
  return api;
}

async function main(): Promise<void> {
  const knex = openDatabase(parseDatabaseUrl(process.env.DATABASE_URL));
  await migrateToLatest(knex);
  const oauth = await createApp({
    issuer: process.env.OAUTH2_ISSUER ?? 'http://localhost:3000',
    store: new KnexStore(knex),
    secretKeys: [process.env.OAUTH2_SECRET_KEYS ?? 'example-key-change-me-0123456789abcdef'],
  });
  (await createProtectedApi(oauth)).listen(3002, '127.0.0.1', () => console.log('http://localhost:3002/profile'));
}

if (require.main === module) void main();
