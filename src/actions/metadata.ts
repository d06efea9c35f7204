/**
 * Authorization server metadata (RFC 8414 §2, §3; RFC 8628 §4). `response_types_supported` is
 * REQUIRED by RFC 8414 but this server has no authorization endpoint, so it is honestly empty.
 */
import type { AuthorizationServerMetadata } from '../../generated/models';
import { AuthorizationServerMetadataTokenEndpointAuthMethodsSupportedEnum as AuthMethod } from '../../generated/models';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';
import { GRANTS } from './token';

export function getAuthorizationServerMetadata(server: ServerContext): OperationHandler {
  const body: AuthorizationServerMetadata = {
    issuer: server.options.issuer,
    token_endpoint: server.urls.token,
    device_authorization_endpoint: server.urls.deviceAuthorization,
    scopes_supported: Object.keys(server.options.scopes),
    response_types_supported: [],
    grant_types_supported: Object.keys(GRANTS),
    token_endpoint_auth_methods_supported: [AuthMethod.None, AuthMethod.ClientSecretBasic, AuthMethod.ClientSecretPost],
    revocation_endpoint: server.urls.revocation,
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    introspection_endpoint: server.urls.introspection,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    ...(server.options.jwt ? { jwks_uri: server.urls.jwks } : {}),
  };
  return (_c, ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = body;
  };
}
