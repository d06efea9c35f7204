/** What every action needs, built once per app from the resolved options. */
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { BearerDeps } from './auth/bearer';
import { SlowDownNames } from './actions/grants/slow-down-names';
import { UnacknowledgedExchanges } from './actions/grants/unacknowledged-exchanges';
import { ServerEvents, type Emit } from './events';
import { clientIp } from './http/client-ip';
import type { SessionDeps } from './auth/session';
import { endpoints, type ResolvedOptions } from './options';
import type { Store } from './storage/store';
import { createPageRenderer, type PageRenderer } from './views/render';

export interface ServerContext {
  options: ResolvedOptions;
  store: Store;
  clock: () => number;
  urls: ReturnType<typeof endpoints>;
  /** The realm of WWW-Authenticate challenges. */
  realm: string;
  pages: PageRenderer;
  session: SessionDeps;
  bearer: BearerDeps;
  logger: Logger;
  events: ServerEvents;
  /** The emitter of one request: fills in time, request id and IP. Call after the write committed. */
  emitter(ctx: Context): Emit;
  /** Token answers lost with a dying database's commit, for the device's next poll. */
  unacknowledgedExchanges: UnacknowledgedExchanges;
  /** The flows of device codes that got slow_down from the one-statement poll, for its events. */
  slowDownNames: SlowDownNames;
}

export function createServerContext(options: ResolvedOptions): ServerContext {
  const realm = new URL(options.issuer).host;
  const events = new ServerEvents(options.logger);
  if (options.onEvent) events.onAny(options.onEvent);
  return {
    logger: options.logger,
    events,
    // Not `{ ...body, time, ... }`: on Node 20 that literal builds a new hidden class per event,
    // and got request objects promoted: device authorizations took ~9 % more CPU a request and
    // scavenges of 6-7 ms instead of 2-3 (test/unit/object-spread.test.ts).
    emitter: (ctx) => (body) => events.emit(Object.assign({ time: options.clock(), requestId: String(ctx.state.requestId ?? ''), ip: clientIp(ctx) }, body)),
    unacknowledgedExchanges: new UnacknowledgedExchanges(),
    slowDownNames: new SlowDownNames(),
    options,
    store: options.store,
    clock: options.clock,
    urls: endpoints(options.issuer),
    realm,
    pages: createPageRenderer(),
    session: {
      store: options.store,
      secretKeys: options.secretKeys,
      sessionLifetime: options.sessionLifetime,
      secureCookies: options.issuer.startsWith('https:'),
      clock: options.clock,
    },
    bearer: {
      store: options.store,
      realm,
      clock: options.clock,
      errorUri: options.errorUri,
      logError: options.logError,
      allowFormBody: options.acceptBearerInFormBody,
    },
  };
}
