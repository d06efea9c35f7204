/**
 * Registering clients and users. A confidential client's secret is generated here, returned
 * once, and stored only as a hash; a password is stored only as an scrypt hash.
 */
import { DEVICE_CODE_GRANT } from './actions/grants/device-code';
import { hashPassword, PREFIX, randomId, randomSecret, sha256 } from './helpers/secrets';
import type { ClientRecord, ClientType, Store, UserRecord } from './storage/store';

export interface NewClient {
  id?: string;
  name: string;
  type: ClientType;
  allowedScopes: string[];
  defaultScopes?: string[];
  grantTypes?: string[];
  canIntrospect?: boolean;
  accessTokenLifetime?: number | null;
  refreshTokenLifetime?: number | null;
}

export async function registerClient(store: Store, input: NewClient, now = Date.now()): Promise<{ client: ClientRecord; secret?: string }> {
  const secret = input.type === 'confidential' ? randomSecret(PREFIX.clientSecret) : undefined;
  const client: ClientRecord = {
    id: input.id ?? randomId(),
    name: input.name,
    type: input.type,
    secretHash: secret ? sha256(secret) : null,
    allowedScopes: input.allowedScopes,
    defaultScopes: input.defaultScopes ?? input.allowedScopes,
    grantTypes: input.grantTypes ?? [DEVICE_CODE_GRANT],
    canIntrospect: input.canIntrospect ?? false,
    accessTokenLifetime: input.accessTokenLifetime ?? null,
    refreshTokenLifetime: input.refreshTokenLifetime ?? null,
  };
  await store.saveClient(client, now);
  return secret ? { client, secret } : { client };
}

export interface NewUser {
  id?: string;
  username: string;
  password: string;
  name: string;
  email?: string;
  disabled?: boolean;
}

export async function registerUser(store: Store, input: NewUser, now = Date.now()): Promise<UserRecord> {
  const user: UserRecord = {
    id: input.id ?? randomId(),
    username: input.username,
    name: input.name,
    email: input.email ?? null,
    passwordHash: await hashPassword(input.password),
    disabled: input.disabled ?? false,
  };
  await store.saveUser(user, now);
  return user;
}
