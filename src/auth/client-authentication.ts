/**
 * Client authentication at the device authorization and token endpoints (RFC 6749 §2.3,
 * RFC 8628 §3.1). Public clients name themselves with `client_id`; confidential clients must
 * authenticate, with HTTP Basic (`client_secret_basic`, id and secret form-urlencoded before
 * base64, §2.3.1) or with `client_id` and `client_secret` in the body (`client_secret_post`).
 * A request may use one method only (§2.3).
 */
import type { Context } from 'koa';
import { InvalidClient, InvalidRequest } from '../http/errors';
import { constantTimeEqual, sha256 } from '../helpers/secrets';
import type { ClientSource } from '../storage/combined-reads';
import type { ClientRecord } from '../storage/store';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod;
}

interface Credentials {
  clientId: string;
  secret?: string;
  method: ClientAuthMethod;
}

/** application/x-www-form-urlencoded decoding of one Basic credential part (RFC 6749 §2.3.1). */
function formDecode(part: string): string | undefined {
  if (!part.includes('%') && !part.includes('+')) return part; // nothing encoded, as in most ids and secrets
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function basicCredentials(header: string, realm: string): Credentials | undefined {
  if (!/^Basic(\s|$)/i.test(header)) return undefined; // another scheme: not client authentication
  const match = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
  if (!match) throw new InvalidClient('the Basic Authorization header is malformed', realm);
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClient('the Basic Authorization header is malformed', realm);
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (!clientId || secret === undefined) throw new InvalidClient('the Basic Authorization header is malformed', realm);
  return { clientId, secret, method: 'client_secret_basic' };
}

function credentialsOf(ctx: Context, form: { client_id?: string; client_secret?: string }, realm: string): Credentials {
  const authorization = ctx.get('authorization');
  const basic = authorization ? basicCredentials(authorization, realm) : undefined;
  if (basic) {
    if (form.client_secret !== undefined) {
      throw new InvalidRequest('use one client authentication method: HTTP Basic or client_secret, not both');
    }
    if (form.client_id !== undefined && form.client_id !== basic.clientId) {
      throw new InvalidRequest('client_id does not match the client in the Authorization header');
    }
    return basic;
  }
  if (form.client_id === undefined) throw new InvalidClient('client_id is required, or authenticate with HTTP Basic', realm);
  if (form.client_secret !== undefined) return { clientId: form.client_id, secret: form.client_secret, method: 'client_secret_post' };
  return { clientId: form.client_id, method: 'none' };
}

/**
 * The client_id of a request that can only be a public client's: client_id in the body, no
 * client_secret, no Authorization header. authenticateClient accepts such a request exactly
 * when that client exists and is public, so a store that checks both may answer without it.
 */
export function publicClientIdOf(ctx: Context, form: { client_id?: string; client_secret?: string }): string | undefined {
  if (form.client_secret !== undefined || ctx.get('authorization') !== '') return undefined;
  return form.client_id;
}

export async function authenticateClient(
  ctx: Context,
  form: { client_id?: string; client_secret?: string },
  store: ClientSource,
  realm: string,
): Promise<AuthenticatedClient> {
  const credentials = credentialsOf(ctx, form, realm);
  const client = await store.findClient(credentials.clientId);
  // The same answer for an unknown client and a wrong secret: no client enumeration.
  const failed = () => new InvalidClient('client authentication failed', realm);
  if (!client) throw failed();
  if (client.type === 'confidential') {
    if (credentials.secret === undefined) throw new InvalidClient('this client must authenticate with its secret', realm);
    if (!client.secretHash || !constantTimeEqual(sha256(credentials.secret), client.secretHash)) throw failed();
  } else if (credentials.secret !== undefined) {
    throw new InvalidClient('this is a public client: send client_id without a secret', realm);
  }
  return { client, method: credentials.method };
}
