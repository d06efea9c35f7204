/** What the admin handlers share: the admin module's dependencies, path parameters, JSON answers. */
import type { Context } from 'koa';
import type { Context as ApiContext } from 'openapi-backend';
import type { AdminDeps } from '../../admin/clients';
import type { ServerContext } from '../../server-context';

export function adminDeps(server: ServerContext): AdminDeps {
  return { store: server.store, scopes: server.options.scopes, clock: server.clock };
}

export function pathParam(c: ApiContext, name: string): string {
  return String((c.request.params as Record<string, string>)[name]);
}

/** A JSON answer that no cache keeps (some carry a secret shown once). */
export function reply(ctx: Context, status: number, body: object): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.status = status;
  ctx.body = body;
}
