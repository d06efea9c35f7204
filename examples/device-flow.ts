/**
 * Example: the device side of the flow with oauth2-devices/client, as firmware or an app would
 * write it. Type-checked with the project (`npm run typecheck`) and run by the test suite.
 *
 *   npx tsx examples/device-flow.ts http://localhost:3000 demo-tv
 */
import { AccessDeniedError, DeviceClient, ExpiredTokenError, memoryTokenStorage, type TokenSet } from '../src/client';

export async function connectDevice(issuer: string, clientId: string, show: (message: string) => void, signal?: AbortSignal): Promise<TokenSet | undefined> {
  const client = new DeviceClient({ issuer, clientId });

  // 1. Ask for a code (RFC 8628 §3.1) and show it, with the link (or a QR code of the complete link).
  const authorization = await client.startDeviceAuthorization({ scope: 'profile' });
  show(`Open ${authorization.verification_uri} and enter ${authorization.user_code}`);

  // 2. Poll by the rules of §3.5: pollForToken waits `interval`, adds 5 s on slow_down,
  //    keeps going on authorization_pending, backs off on network errors, stops at expiry.
  try {
    return await client.pollForToken(authorization, {
      signal,
      onPending: (secondsLeft) => show(`waiting, ${secondsLeft} s left`),
    });
  } catch (err) {
    if (err instanceof AccessDeniedError) show('The request was denied.');
    else if (err instanceof ExpiredTokenError) show('The code expired; start again.');
    else throw err;
    return undefined;
  }
}

/** 3. Call an API with the token; the fetch refreshes once on 401 and keeps the new tokens. */
export async function whoAmI(issuer: string, clientId: string, tokens: TokenSet): Promise<unknown> {
  const authorizedFetch = new DeviceClient({ issuer, clientId }).authorizedFetch(memoryTokenStorage(tokens));
  const response = await authorizedFetch(`${issuer}/api/me`);
  return response.json();
}

async function main(): Promise<void> {
  const [issuer = 'http://localhost:3000', clientId = 'demo-tv'] = process.argv.slice(2);
  const tokens = await connectDevice(issuer, clientId, console.log);
  if (tokens) console.log(await whoAmI(issuer, clientId, tokens));
}

if (require.main === module) void main();
