/**
 * Steps of the token lifecycle shared by the tests in this folder, all over real HTTP against
 * a running server: a device gets tokens through the whole device flow (authorization, a
 * person approves in a browser, one poll), then refreshes, revokes, introspects and calls the
 * protected resource. Nothing is mocked.
 */
import { expect } from 'chai';
import type { NewClient } from '../../src/accounts';
import { deviceCodeKey } from '../../src/helpers/secrets';
import type { ClientRecord, UserRecord } from '../../src/storage/store';
import type { TestDatabase } from '../support/databases';
import { basic, BrowserSession, type Reply } from '../support/http';
import { DEVICE_GRANT, makeConfidentialClient, makePublicClient, makeUser, TEST_PASSWORD, type RunningServer } from '../support/server';

export const REFRESH_GRANT = 'refresh_token';
export const ACCESS_TOKEN_LIFETIME = 3600;
export const REFRESH_TOKEN_LIFETIME = 30 * 86400;

/** A client as a device uses it: a public one names itself, a confidential one authenticates. */
export interface DeviceClient {
  client: ClientRecord;
  secret?: string;
}

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

export interface Approval {
  device: DeviceClient;
  person: UserRecord;
  browser: BrowserSession;
  tokens: TokenSet;
  /** The device authorization's id: the grant the tokens belong to. */
  grantId: string;
  deviceCode: string;
}

/** How a client authenticates in a form request: client_id, or HTTP Basic with its secret. */
export function clientAuth(device: DeviceClient): { form: Record<string, string>; headers: Record<string, string> } {
  return device.secret === undefined
    ? { form: { client_id: device.client.id }, headers: {} }
    : { form: {}, headers: { authorization: basic(device.client.id, device.secret) } };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export class Lifecycle {
  constructor(
    readonly db: TestDatabase,
    readonly server: () => RunningServer,
  ) {}

  /** A public device client allowed the device grant and the refresh grant. */
  async refreshingClient(overrides: Partial<NewClient> = {}): Promise<DeviceClient> {
    return { client: await makePublicClient(this.db.store, { grantTypes: [DEVICE_GRANT, REFRESH_GRANT], ...overrides }) };
  }

  /** A resource server: a confidential client allowed to introspect. */
  async resourceServer(): Promise<DeviceClient> {
    const { client, secret } = await makeConfidentialClient(this.db.store, { name: 'Photo API', canIntrospect: true });
    return { client, secret };
  }

  /** A person, and a browser signed in as them (at the server's current time). */
  async person(existing?: UserRecord): Promise<{ person: UserRecord; browser: BrowserSession }> {
    const person = existing ?? (await makeUser(this.db.store));
    const browser = new BrowserSession(this.server().url);
    const reply = await browser.signIn(person.username, TEST_PASSWORD);
    expect(reply.status, reply.text).to.equal(303);
    return { person, browser };
  }

  /**
   * The device flow to the end: the device asks for codes, the person approves in the browser,
   * `waitBeforeExchange` seconds pass, and the device exchanges its code once.
   */
  async approve(
    device: DeviceClient,
    options: { scope?: string; person?: { person: UserRecord; browser: BrowserSession }; waitBeforeExchange?: number } = {},
  ): Promise<Approval> {
    const server = this.server();
    const { person, browser } = options.person ?? (await this.person());
    const auth = clientAuth(device);
    const authorization = await server.call('POST', '/oauth/device_authorization', {
      form: { ...auth.form, ...(options.scope ? { scope: options.scope } : {}) },
      headers: auth.headers,
    });
    expect(authorization.status, authorization.text).to.equal(200);
    const decided = await browser.decide(authorization.json.user_code, 'approve');
    expect(decided.status, decided.text).to.equal(200);
    if (options.waitBeforeExchange) server.clock.advance(options.waitBeforeExchange);
    const deviceCode = authorization.json.device_code as string;
    const reply = await this.pollDeviceCode(device, deviceCode);
    expect(reply.status, reply.text).to.equal(200);
    const row = await this.db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(deviceCode) }).first();
    expect(row, 'device authorization row').to.exist;
    return { device, person, browser, tokens: reply.json as TokenSet, grantId: String(row.id), deviceCode };
  }

  pollDeviceCode(device: DeviceClient, deviceCode: string): Promise<Reply> {
    const auth = clientAuth(device);
    return this.server().call('POST', '/oauth/token', {
      form: { grant_type: DEVICE_GRANT, device_code: deviceCode, ...auth.form },
      headers: auth.headers,
    });
  }

  refresh(device: DeviceClient, refreshToken: string | undefined, extra: Record<string, string> = {}): Promise<Reply> {
    const auth = clientAuth(device);
    return this.server().call('POST', '/oauth/token', {
      form: { grant_type: REFRESH_GRANT, ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }), ...auth.form, ...extra },
      headers: auth.headers,
    });
  }

  /** A refresh that must succeed; returns the new tokens. */
  async refreshed(device: DeviceClient, refreshToken: string, extra: Record<string, string> = {}): Promise<TokenSet> {
    const reply = await this.refresh(device, refreshToken, extra);
    expect(reply.status, reply.text).to.equal(200);
    return reply.json as TokenSet;
  }

  revoke(device: DeviceClient, token: string | undefined, hint?: string): Promise<Reply> {
    const auth = clientAuth(device);
    return this.server().call('POST', '/oauth/revoke', {
      form: { ...(token === undefined ? {} : { token }), ...(hint ? { token_type_hint: hint } : {}), ...auth.form },
      headers: auth.headers,
    });
  }

  /** Introspection by `resourceServer`; returns the reply (status checked by the caller). */
  introspect(resourceServer: DeviceClient, token: string, hint?: string): Promise<Reply> {
    const auth = clientAuth(resourceServer);
    return this.server().call('POST', '/oauth/introspect', {
      form: { token, ...(hint ? { token_type_hint: hint } : {}), ...auth.form },
      headers: auth.headers,
    });
  }

  /** The introspection answer, which must be a 200. */
  async introspection(resourceServer: DeviceClient, token: string, hint?: string): Promise<Record<string, unknown>> {
    const reply = await this.introspect(resourceServer, token, hint);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    return reply.json;
  }

  me(accessToken: string): Promise<Reply> {
    return this.server().call('GET', '/api/me', { headers: bearer(accessToken) });
  }

  /** The access token works at /api/me, for this person and client. */
  async expectAccessWorks(accessToken: string, approval?: Approval): Promise<void> {
    const reply = await this.me(accessToken);
    expect(reply.status, reply.text).to.equal(200);
    if (approval) {
      expect(reply.json.sub).to.equal(approval.person.id);
      expect(reply.json.client_id).to.equal(approval.device.client.id);
    }
  }

  /** The access token is refused at /api/me with invalid_token (RFC 6750 §3.1). */
  async expectAccessRefused(accessToken: string): Promise<void> {
    const reply = await this.me(accessToken);
    expect(reply.status, reply.text).to.equal(401);
    expect(reply.json.error).to.equal('invalid_token');
    expect(reply.headers.get('www-authenticate')).to.match(/^Bearer realm="[^"]+", error="invalid_token"/);
  }

  /** The refresh token is refused with invalid_grant. */
  async expectRefreshRefused(device: DeviceClient, refreshToken: string): Promise<void> {
    const reply = await this.refresh(device, refreshToken);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('invalid_grant');
  }

  /** Introspection says exactly {"active": false}. */
  async expectInactive(resourceServer: DeviceClient, token: string): Promise<void> {
    expect(await this.introspection(resourceServer, token)).to.deep.equal({ active: false });
  }
}
