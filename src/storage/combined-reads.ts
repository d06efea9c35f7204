/**
 * The reads a hot request makes together: in one call when the store offers it (KnexStore: one
 * prepared statement, on MySQL one round trip), else the same rows one lookup at a time, so a
 * Store without the optional methods works unchanged.
 */
import type { AccessTokenWithOwners, ClientRecord, ClientWithAccessToken, ClientWithDeviceAuthorization, Store } from './store';

export async function findClientAndDeviceAuthorization(store: Store, clientId: string, deviceCodeHash: string): Promise<ClientWithDeviceAuthorization> {
  if (store.findClientAndDeviceAuthorization) return store.findClientAndDeviceAuthorization(clientId, deviceCodeHash);
  const client = await store.findClient(clientId);
  return { client, authorization: client && (await store.findDeviceAuthorizationByDeviceCode(deviceCodeHash)) };
}

export async function findAccessTokenWithOwners(store: Store, tokenHash: string): Promise<AccessTokenWithOwners | undefined> {
  if (store.findAccessTokenWithOwners) return store.findAccessTokenWithOwners(tokenHash);
  const token = await store.findAccessToken(tokenHash);
  if (!token) return undefined;
  const [user, client] = await Promise.all([store.findUserById(token.userId), store.findClient(token.clientId)]);
  return { token, user, client };
}

export async function findClientAndAccessToken(store: Store, clientId: string, tokenHash: string): Promise<ClientWithAccessToken> {
  if (store.findClientAndAccessToken) return store.findClientAndAccessToken(clientId, tokenHash);
  const client = await store.findClient(clientId);
  const found = client && (await findAccessTokenWithOwners(store, tokenHash));
  return { client, accessToken: found && { token: found.token, user: found.user } };
}

/** Where client authentication reads the client from. */
export type ClientSource = Pick<Store, 'findClient'>;

/**
 * The token endpoint's client source for a device code poll: reads the client together with
 * the polled code and keeps the code's row for the grant, which then needs no query of its own.
 */
export class ClientWithDeviceCode implements ClientSource {
  private found?: ClientWithDeviceAuthorization;

  /** `deviceCodeHash`: the hash of the request's device_code (the grant reads no other code). */
  constructor(private readonly store: Store, private readonly deviceCodeHash: string) {}

  async findClient(clientId: string): Promise<ClientRecord | undefined> {
    this.found = await findClientAndDeviceAuthorization(this.store, clientId, this.deviceCodeHash);
    return this.found.client;
  }

  /** The code's row as read with the client; undefined also when the client was not read. */
  get authorization() {
    return this.found?.authorization;
  }

  get read(): boolean {
    return this.found !== undefined;
  }
}

/**
 * The introspection endpoint's client source: reads the client together with the access token
 * it asks about (RFC 7662 §2.1) and keeps the token for the answer. The token is read before
 * the client is authenticated but used only after: an unauthenticated request learns nothing
 * from it (the answer is the same invalid_client, and a token is 256 random bits, so whether
 * a guessed one exists is no question worth a timing attack).
 */
export class ClientWithIntrospectedToken implements ClientSource {
  private found?: ClientWithAccessToken;

  /** `tokenHash`: the hash of the request's token. */
  constructor(private readonly store: Store, private readonly tokenHash: string) {}

  async findClient(clientId: string): Promise<ClientRecord | undefined> {
    this.found = await findClientAndAccessToken(this.store, clientId, this.tokenHash);
    return this.found.client;
  }

  /** The access token as read with the client (undefined: no such access token, or not read). */
  get accessToken() {
    return this.found?.accessToken;
  }

  get read(): boolean {
    return this.found !== undefined;
  }
}
