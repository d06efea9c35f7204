/**
 * The admin API's client operations: thin handlers over src/admin/clients.ts, which the CLI
 * uses too. Every answer is `no-store`: some carry a secret, and none is worth caching.
 */
import type { Context } from 'koa';
import type { AdminClientSecret } from '../../../generated/models';
import * as clients from '../../admin/clients';
import type { OperationHandler } from '../../http/openapi-router';
import type { ServerContext } from '../../server-context';
import { adminDeps, pathParam, reply } from './common';

/** POST /admin/clients */
export function adminCreateClient(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const { client, secret } = await clients.createClient(adminDeps(server), c.request.requestBody as clients.ClientFields);
    const body: clients.ClientView & { client_secret?: string } = Object.assign(clients.clientView(client), secret ? { client_secret: secret } : {});
    reply(ctx, 201, body);
  };
}

/** GET /admin/clients */
export function adminListClients(server: ServerContext): OperationHandler {
  return async (_c, ctx) => {
    const all = await clients.listClients(adminDeps(server));
    reply(ctx, 200, { clients: all.map(clients.clientView) });
  };
}

/** GET /admin/clients/{client_id} */
export function adminGetClient(server: ServerContext): OperationHandler {
  return async (c, ctx) => reply(ctx, 200, clients.clientView(await clients.getClient(adminDeps(server), pathParam(c, 'client_id'))));
}

/** PATCH /admin/clients/{client_id} */
export function adminUpdateClient(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const client = await clients.updateClient(adminDeps(server), pathParam(c, 'client_id'), c.request.requestBody as clients.ClientFields);
    reply(ctx, 200, clients.clientView(client));
  };
}

/** POST /admin/clients/{client_id}/secret */
export function adminRotateClientSecret(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const { client, secret } = await clients.rotateClientSecret(adminDeps(server), pathParam(c, 'client_id'));
    reply(ctx, 200, { client_id: client.id, client_secret: secret } satisfies AdminClientSecret);
  };
}

/** DELETE /admin/clients/{client_id} */
export function adminDeleteClient(server: ServerContext): OperationHandler {
  return async (c, ctx: Context) => {
    await clients.deleteClient(adminDeps(server), pathParam(c, 'client_id'));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 204;
  };
}
