/** Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens. */
import { SCOPE_TOKEN } from '../config/check';
import { InvalidRequest, InvalidScope } from '../http/errors';
import type { ClientRecord } from '../storage/store';

/** Splits a scope parameter; a malformed token is invalid_scope naming it. */
export function parseScope(text: string): string[] {
  const tokens = text.split(' ').filter(Boolean);
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) throw new InvalidScope('scope contains a character RFC 6749 section 3.3 does not allow');
  }
  return [...new Set(tokens)];
}

/**
 * The scopes a request gets: the requested ones if the client may have them all, the client's
 * defaults when none are requested (RFC 6749 §3.3).
 */
export function grantedScopes(client: ClientRecord, requested: string | undefined): string[] {
  if (requested === undefined) {
    if (client.defaultScopes.length === 0) throw new InvalidScope('scope is required: this client has no default scopes');
    return client.defaultScopes;
  }
  const scopes = parseScope(requested);
  if (scopes.length === 0) throw new InvalidRequest('scope must name at least one scope');
  const refused = scopes.filter((s) => !client.allowedScopes.includes(s));
  if (refused.length > 0) throw new InvalidScope(`scope not allowed for this client: ${refused.join(' ')}`);
  return scopes;
}
