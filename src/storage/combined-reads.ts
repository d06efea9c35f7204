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
 * A client source that reads the client together with the one other row its request needs (one
 * statement; on MySQL one round trip) and keeps what it read for the action, which then needs
 * no query of its own: the polled device code at the token endpoint, the token asked about at
 * the introspection endpoint. That row is used only once the client has authenticated.
 */
export class ClientReadTogether<T extends { client?: ClientRecord }> implements ClientSource {
  private found?: T;

  constructor(private readonly readWithClient: (clientId: string) => Promise<T>) {}

  async findClient(clientId: string): Promise<ClientRecord | undefined> {
    this.found = await this.readWithClient(clientId);
    return this.found.client;
  }

  /** What was read with the client; undefined when the client was not read. */
  get result(): T | undefined {
    return this.found;
  }
}

export type ClientWithDeviceCode = ClientReadTogether<ClientWithDeviceAuthorization>;
export type ClientWithIntrospectedToken = ClientReadTogether<ClientWithAccessToken>;

/** The token endpoint's client source for a device code poll (`deviceCodeHash`: the hash of its device_code). */
export function clientWithDeviceCode(store: Store, deviceCodeHash: string): ClientWithDeviceCode {
  return new ClientReadTogether((clientId) => findClientAndDeviceAuthorization(store, clientId, deviceCodeHash));
}

/**
 * The introspection endpoint's client source (`tokenHash`: the hash of its token). Read before
 * the client is authenticated, the token changes nothing about that answer (the same
 * invalid_client), and it is 256 random bits: whether a guessed one exists is no question worth
 * a timing attack.
 */
export function clientWithIntrospectedToken(store: Store, tokenHash: string): ClientWithIntrospectedToken {
  return new ClientReadTogether((clientId) => findClientAndAccessToken(store, clientId, tokenHash));
}
