/**
 * The one factory: builds the Koa app from options, so the server runs standalone (main.ts)
 * or mounted inside an existing Koa application. The middleware chain is short on purpose:
 * the request observer (request id, log line, metrics), security headers, the one error
 * handler, and the spec-driven router.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import Koa, { type Middleware } from 'koa';
import type { Document } from 'openapi-backend';
import * as activation from './actions/activation/pages';
import * as adminClients from './actions/admin/clients';
import * as adminUsers from './actions/admin/users';
import { deviceAuthorization } from './actions/device-authorization';
import * as devices from './actions/devices';
import { introspectToken } from './actions/introspection';
import { getJwks } from './actions/jwks';
import { getMe } from './actions/me';
import { getAuthorizationServerMetadata } from './actions/metadata';
import { getActivationQrCode } from './actions/qr-code';
import { revokeToken } from './actions/revocation';
import { token } from './actions/token';
import { adminTokenCheck } from './auth/admin-token';
import { requireOAuthFactory, verifyBearer } from './auth/bearer';
import * as docs from './actions/docs';
import * as operations from './actions/operations';
import type { ServerEvents } from './events';
import { observeRequests } from './http/request-observer';
import { createMetrics, type ServerMetrics } from './metrics';
import { errorHandler } from './http/error-handler';
import { createOpenApiRouter, type OperationHandler } from './http/openapi-router';
import { securityHeaders } from './http/security-headers';
import { useLeanHeaderSet } from './http/lean-header-set';
import { resolveOptions, type ServerOptions } from './options';
import { createServerContext, type ServerContext } from './server-context';

export const SPEC_PATH = join(__dirname, '..', 'openapi.yaml');

export function loadSpec(): Document {
  return loadYaml(readFileSync(SPEC_PATH, 'utf8')) as Document;
}

export interface OAuth2DevicesServer {
  app: Koa;
  /** Koa middleware for integrators' own routes: `requireOAuth('profile')`. */
  requireOAuth: (...scopes: string[]) => Middleware;
  context: ServerContext;
  /** Typed events (see src/events.ts): `events.on('token.issued', (e) => ...)`. */
  events: ServerEvents;
  /** This app's Prometheus registry and scrape (also served at GET /metrics). */
  metrics: ServerMetrics;
}

/** Health, metrics and documentation: what operators use (see the README, Operations). */
function operatorHandlers(server: ServerContext, metrics: ServerMetrics): Record<string, OperationHandler> {
  return {
    getHealth: operations.getHealth(),
    getReadiness: operations.getReadiness(server),
    getMetrics: operations.getMetrics(server, metrics),
    showDocs: docs.showDocs(),
    getDocsAsset: docs.getDocsAsset(),
    getOpenApiSpec: docs.getOpenApiSpec(SPEC_PATH, server.options.issuer),
  };
}

function operationHandlers(server: ServerContext): Record<string, OperationHandler> {
  return {
    deviceAuthorization: deviceAuthorization(server),
    token: token(server),
    getAuthorizationServerMetadata: getAuthorizationServerMetadata(server),
    getMe: getMe(),
    getActivationQrCode: getActivationQrCode(server),
    revokeToken: revokeToken(server),
    getJwks: getJwks(server),
    introspectToken: introspectToken(server),
    listMyDevices: devices.listMyDevices(server),
    revokeMyDevice: devices.revokeMyDevice(server),
    showMyDevices: devices.showMyDevices(server),
    revokeDeviceFromPage: devices.revokeDeviceFromPage(server),
    showActivation: activation.showActivation(server),
    submitUserCode: activation.submitUserCode(server),
    decideAuthorization: activation.decideAuthorization(server),
    showSignIn: activation.showSignIn(server),
    signIn: activation.signIn(server),
    signOut: activation.signOut(server),
    ...adminHandlers(server),
  };
}

/** The admin API (tag Admin): clients and users, for the people who run the server. */
function adminHandlers(server: ServerContext): Record<string, OperationHandler> {
  return {
    adminCreateClient: adminClients.adminCreateClient(server),
    adminListClients: adminClients.adminListClients(server),
    adminGetClient: adminClients.adminGetClient(server),
    adminUpdateClient: adminClients.adminUpdateClient(server),
    adminRotateClientSecret: adminClients.adminRotateClientSecret(server),
    adminDeleteClient: adminClients.adminDeleteClient(server),
    adminCreateUser: adminUsers.adminCreateUser(server),
    adminListUsers: adminUsers.adminListUsers(server),
    adminGetUser: adminUsers.adminGetUser(server),
    adminDisableUser: adminUsers.adminSetUserDisabled(server, true),
    adminEnableUser: adminUsers.adminSetUserDisabled(server, false),
    adminResetUserPassword: adminUsers.adminResetUserPassword(server),
  };
}

export async function createApp(options: ServerOptions): Promise<OAuth2DevicesServer> {
  const resolved = resolveOptions(options);
  const server = createServerContext(resolved);
  const metrics = createMetrics(server.events, server.store);
  // Behind a proxy, trust only the address the nearest proxy saw (the rightmost entry of
  // X-Forwarded-For): the entries left of it are whatever the client wrote.
  const app = new Koa({ keys: resolved.secretKeys, proxy: resolved.trustProxy, maxIpsCount: 1 });
  useLeanHeaderSet(app);
  const adminToken = adminTokenCheck(resolved.adminTokens, server.realm);

  const router = await createOpenApiRouter({
    spec: loadSpec(),
    handlers: Object.assign(operationHandlers(server), operatorHandlers(server, metrics)),
    securityHandlers: {
      // The scopes an operation needs are the ones openapi.yaml lists for bearerToken.
      bearerToken: async (c, ctx) => {
        const requirement = (c.operation.security ?? []).find((r) => 'bearerToken' in r);
        ctx.state.oauth = await verifyBearer(ctx, server.bearer, requirement?.bearerToken ?? []);
        return ctx.state.oauth;
      },
      adminToken: async (_c, ctx) => {
        adminToken.verify(ctx);
        return true;
      },
    },
    bodyLimit: resolved.bodyLimit,
    pageTag: 'Activation',
    bearerRealm: server.realm,
  });

  app.use(observeRequests({ logger: resolved.logger, metrics, trustRequestId: resolved.trustRequestId }));
  app.use(securityHeaders(server.pages.styleHash));
  app.use(
    errorHandler({
      errorUri: resolved.errorUri,
      logError: resolved.logError,
      renderErrorPage: (ctx, error) => server.pages.renderError(ctx, error),
    }),
  );
  app.use(router);

  return { app, requireOAuth: requireOAuthFactory(server.bearer), context: server, events: server.events, metrics };
}
