/** The JWK Set of the keys that sign JWT access tokens (empty for opaque tokens). */
import type { JwkSet } from '../../generated/models';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';

export function getJwks(server: ServerContext): OperationHandler {
  const body = { keys: (server.options.jwt?.keys ?? []).map((key) => key.jwk) } as JwkSet;
  return (_c, ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = body;
  };
}
