/** The admin API's user operations: thin handlers over src/admin/users.ts, which the CLI uses too. */
import type { AdminPasswordForm, AdminPasswordReset, AdminUserList, AdminUserWithPassword } from '../../../generated/models';
import * as users from '../../admin/users';
import type { OperationHandler } from '../../http/openapi-router';
import type { ServerContext } from '../../server-context';
import { adminDeps, pathParam, reply } from './common';

/** POST /admin/users */
export function adminCreateUser(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const { user, password } = await users.createUser(adminDeps(server), c.request.requestBody as users.UserFields);
    reply(ctx, 201, Object.assign(users.userView(user), password ? { password } : {}) satisfies AdminUserWithPassword);
  };
}

/** GET /admin/users */
export function adminListUsers(server: ServerContext): OperationHandler {
  return async (_c, ctx) => {
    const all = await users.listUsers(adminDeps(server));
    reply(ctx, 200, { users: all.map(users.userView) } satisfies AdminUserList);
  };
}

/** GET /admin/users/{user_id} */
export function adminGetUser(server: ServerContext): OperationHandler {
  return async (c, ctx) => reply(ctx, 200, users.userView(await users.getUser(adminDeps(server), pathParam(c, 'user_id'))));
}

/** POST /admin/users/{user_id}/disable and /enable */
export function adminSetUserDisabled(server: ServerContext, disabled: boolean): OperationHandler {
  return async (c, ctx) => reply(ctx, 200, users.userView(await users.setUserDisabled(adminDeps(server), pathParam(c, 'user_id'), disabled)));
}

/** POST /admin/users/{user_id}/password */
export function adminResetUserPassword(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as AdminPasswordForm;
    const { user, password } = await users.resetPassword(adminDeps(server), pathParam(c, 'user_id'), form.password);
    reply(ctx, 200, { user_id: user.id, ...(password ? { password } : {}) } satisfies AdminPasswordReset);
  };
}
