/** What every action needs, built once per app from the resolved options. */
import type { BearerDeps } from './auth/bearer';
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
}

export function createServerContext(options: ResolvedOptions): ServerContext {
  const realm = new URL(options.issuer).host;
  return {
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
