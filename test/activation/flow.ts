/**
 * Small steps of the device flow shared by the activation-page tests: a device starts a flow
 * and polls over real HTTP; a person signs in with a BrowserSession. Nothing here is mocked.
 */
import { expect } from 'chai';
import type { ClientRecord, Store } from '../../src/storage/store';
import { deviceCodeKey } from '../../src/helpers/secrets';
import type { TestDatabase } from '../support/databases';
import { BrowserSession, type Reply } from '../support/http';
import { DEVICE_GRANT, makePublicClient, makeUser, TEST_PASSWORD, type RunningServer } from '../support/server';
import type { NewClient } from '../../src/accounts';

export const SESSION_COOKIE = 'o2d_session';

export interface Flow {
  client: ClientRecord;
  deviceCode: string;
  /** As the device shows it: XXXX-XXXX. */
  userCode: string;
  verificationUriComplete: string;
}

/** RFC 8628 §3.1: the device asks for a code (a fresh public client per flow). */
export async function startFlow(server: RunningServer, store: Store, options: { scope?: string; client?: Partial<NewClient> } = {}): Promise<Flow> {
  const client = await makePublicClient(store, options.client);
  const reply = await server.call('POST', '/oauth/device_authorization', {
    form: { client_id: client.id, ...(options.scope ? { scope: options.scope } : {}) },
  });
  expect(reply.status, reply.text).to.equal(200);
  return {
    client,
    deviceCode: reply.json.device_code,
    userCode: reply.json.user_code,
    verificationUriComplete: reply.json.verification_uri_complete,
  };
}

/** RFC 8628 §3.4: one poll, after waiting the interval on the server's clock. */
export async function poll(server: RunningServer, flow: Flow): Promise<Reply> {
  server.clock.advance(5);
  return server.call('POST', '/oauth/token', {
    form: { grant_type: DEVICE_GRANT, client_id: flow.client.id, device_code: flow.deviceCode },
  });
}

/** The flow's row, found by the hash of its device code. */
export async function flowRow(db: TestDatabase, flow: Flow): Promise<Record<string, unknown>> {
  const row = await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(flow.deviceCode) }).first();
  expect(row, 'device authorization row').to.exist;
  return row;
}

/** Nobody has decided: the row is pending with no user, and the device is told to keep polling. */
export async function expectStillPending(db: TestDatabase, server: RunningServer, flow: Flow): Promise<void> {
  const row = await flowRow(db, flow);
  expect(row.status).to.equal('pending');
  expect(row.user_id).to.equal(null);
  expect(row.decided_at).to.equal(null);
  const reply = await poll(server, flow);
  expect(reply.status).to.equal(400);
  expect(reply.json.error).to.equal('authorization_pending');
}

/** A new person and a browser signed in as them. */
export async function signedInBrowser(server: RunningServer, store: Store, overrides: Parameters<typeof makeUser>[1] = {}) {
  const user = await makeUser(store, overrides);
  const browser = new BrowserSession(server.url);
  const reply = await browser.signIn(user.username, TEST_PASSWORD);
  expect(reply.status, reply.text).to.equal(303);
  expect(browser.cookie(SESSION_COOKIE)).to.be.a('string');
  return { user, browser };
}

/** Types the code on the enter-code page and returns the page that answers (confirm on success). */
export async function enterCode(browser: BrowserSession, typed: string): Promise<Reply> {
  const form = await browser.get('/activate');
  expect(form.status).to.equal(200);
  return browser.post('/activate', { csrf_token: BrowserSession.csrf(form), user_code: typed });
}

/** Presses a button of a confirm page, with the hidden fields that page carries. */
export function press(browser: BrowserSession, confirm: Reply, decision: 'approve' | 'deny'): Promise<Reply> {
  expect(confirm.status, confirm.text).to.equal(200);
  return browser.post('/activate/decision', {
    csrf_token: BrowserSession.csrf(confirm),
    user_code: hiddenField(confirm, 'user_code'),
    decision,
  });
}

export function hiddenField(page: Reply, name: string): string {
  const match = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(page.text);
  if (!match) throw new Error(`no hidden ${name} on the page`);
  return match[1]!;
}

/** The <h1> of a page, to say which page it is. */
export function heading(page: Reply): string {
  return /<h1>([\s\S]*?)<\/h1>/.exec(page.text)?.[1]?.trim() ?? '';
}

/** The Set-Cookie line of the last response for one cookie name (not its .sig companion). */
export function setCookieLine(browser: BrowserSession, name: string): string | undefined {
  return browser.lastSetCookies.find((line) => line.startsWith(`${name}=`));
}

export async function sessionRows(db: TestDatabase, userId: string): Promise<Array<Record<string, unknown>>> {
  return db.knex('sessions').where({ user_id: userId });
}
