/**
 * The device authorization endpoint (RFC 8628 §3.1, §3.2): authenticates the client, settles
 * the scope, and stores a new flow under hashes of a 256-bit device code and a user code drawn
 * from the RFC's base-20 alphabet. A user code that is already taken is drawn again.
 */
import type { DeviceAuthorizationRequest, DeviceAuthorizationResponse } from '../../generated/models';
import { authenticateClient } from '../auth/client-authentication';
import { formatUserCode, generateUserCode, userCodeHashes } from '../helpers/user-code';
import { grantedScopes } from '../helpers/scope';
import { deviceCodeKey, newDeviceCode, PREFIX, randomId, randomSecret } from '../helpers/secrets';
import { clientIp } from '../http/client-ip';
import { TemporarilyUnavailable, UnauthorizedClient } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';
import { DuplicateUserCode } from '../storage/store';
import { DEVICE_CODE_GRANT } from './grants/device-code';

/** Draws before giving up; with 20^8 codes even a full table rarely needs a second. */
const USER_CODE_DRAWS = 8;

export function deviceAuthorization(server: ServerContext): OperationHandler {
  const { store, options, urls } = server;
  return async (c, ctx) => {
    const form = c.request.requestBody as DeviceAuthorizationRequest;
    const { client } = await authenticateClient(ctx, form, store, server.realm);
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT)) {
      throw new UnauthorizedClient('this client may not use the device authorization grant');
    }
    const scopes = grantedScopes(client, form.scope);
    const now = server.clock();
    const deviceCode = options.timedDeviceCodes ? newDeviceCode(now) : randomSecret(PREFIX.deviceCode);

    const id = randomId();
    const expiresAt = now + options.deviceCodeLifetime * 1000;
    let userCode: string | undefined;
    for (let draw = 0; draw < USER_CODE_DRAWS && userCode === undefined; draw++) {
      const candidate = generateUserCode(options.userCode);
      try {
        await store.createDeviceAuthorization({
          id,
          deviceCodeHash: deviceCodeKey(deviceCode),
          userCodeHash: userCodeHashes(candidate, options.secretKeys)[0]!,
          clientId: client.id,
          scopes,
          createdAt: now,
          expiresAt,
          pollInterval: options.pollInterval,
          requestIp: clientIp(ctx),
          userAgent: ctx.get('user-agent').slice(0, 512) || null,
        });
        userCode = candidate;
      } catch (err) {
        if (!(err instanceof DuplicateUserCode)) throw err;
      }
    }
    if (userCode === undefined) throw new TemporarilyUnavailable(1);
    server.emitter(ctx)({ type: 'device_authorization.created', authorizationId: id, clientId: client.id, scopes, expiresAt });

    const shown = formatUserCode(userCode);
    const body: DeviceAuthorizationResponse = {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: urls.verification,
      verification_uri_complete: `${urls.verification}?user_code=${encodeURIComponent(shown)}`,
      expires_in: options.deviceCodeLifetime,
      interval: options.pollInterval,
    };
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.body = body;
  };
}
