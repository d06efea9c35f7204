/**
 * Demo data for the embedded default only (never for a DATABASE_URL): a public client for a
 * TV-like device, a confidential client that may also introspect, and a person to approve them. Secrets are drawn anew
 * at each start and printed once, since only their hashes are stored.
 */
import { randomBytes } from 'node:crypto';
import { registerClient, registerUser } from './accounts';
import { DEVICE_CODE_GRANT } from './actions/grants/device-code';
import { REFRESH_TOKEN_GRANT } from './actions/grants/issue';
import type { Store } from './storage/store';

export interface DemoData {
  publicClientId: string;
  confidentialClientId: string;
  confidentialClientSecret: string;
  username: string;
  password: string;
}

export async function seedDemoData(store: Store): Promise<DemoData> {
  const scopes = ['profile', 'email', 'devices'];
  const grantTypes = [DEVICE_CODE_GRANT, REFRESH_TOKEN_GRANT];
  await registerClient(store, { id: 'demo-tv', name: 'Demo TV', type: 'public', allowedScopes: scopes, defaultScopes: ['profile'], grantTypes });
  // Also a resource server: it may introspect tokens.
  const { secret } = await registerClient(store, {
    id: 'demo-service',
    name: 'Demo Service',
    type: 'confidential',
    allowedScopes: scopes,
    defaultScopes: ['profile'],
    grantTypes,
    canIntrospect: true,
  });
  const password = randomBytes(9).toString('base64url');
  await registerUser(store, { id: 'demo-user', username: 'demo', password, name: 'Demo User', email: 'demo@example.com' });
  return {
    publicClientId: 'demo-tv',
    confidentialClientId: 'demo-service',
    confidentialClientSecret: secret!,
    username: 'demo',
    password,
  };
}
