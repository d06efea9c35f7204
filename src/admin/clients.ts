/**
 * Registering and managing clients, for the admin API (src/actions/admin/) and the CLI
 * (src/cli/admin.ts) alike: validation, store calls and secrets live here, once.
 *
 * A confidential client's secret is drawn here and returned once, at creation or rotation;
 * only its SHA-256 hash is stored, and the client's representation never carries it.
 */
import { DEVICE_CODE_GRANT } from '../actions/grants/device-code';
import { GRANTS } from '../actions/token';
import { Conflict, InvalidRequest, NotFound } from '../http/errors';
import { PREFIX, randomId, randomSecret, sha256 } from '../helpers/secrets';
import type { ClientRecord, Store } from '../storage/store';
import { boolean, identifier, lifetime, list, oneOf, text, type FieldValue } from './validation';

/** What the admin functions need: the store, the scopes the server knows, and its clock. */
export interface AdminDeps {
  store: Store;
  scopes: Record<string, string>;
  clock: () => number;
}

/** Bounds of per-client lifetimes: the same as the server's settings. */
export const ACCESS_TOKEN_LIFETIME_BOUNDS = [60, 31 * 86400] as const;
export const REFRESH_TOKEN_LIFETIME_BOUNDS = [60, 366 * 86400] as const;

/** The fields of a create or update request, as the form (or the CLI's flags) names them. */
export interface ClientFields {
  client_id?: FieldValue;
  name?: FieldValue;
  type?: FieldValue;
  allowed_scopes?: FieldValue;
  default_scopes?: FieldValue;
  grant_types?: FieldValue;
  can_introspect?: FieldValue;
  access_token_lifetime?: FieldValue;
  refresh_token_lifetime?: FieldValue;
}

/** A client as the admin API shows it: never its secret or the secret's hash. */
export interface ClientView {
  client_id: string;
  name: string;
  type: 'public' | 'confidential';
  allowed_scopes: string;
  default_scopes: string;
  grant_types: string;
  can_introspect: boolean;
  access_token_lifetime: number | null;
  refresh_token_lifetime: number | null;
}

export function clientView(client: ClientRecord): ClientView {
  return {
    client_id: client.id,
    name: client.name,
    type: client.type,
    allowed_scopes: client.allowedScopes.join(' '),
    default_scopes: client.defaultScopes.join(' '),
    grant_types: client.grantTypes.join(' '),
    can_introspect: client.canIntrospect,
    access_token_lifetime: client.accessTokenLifetime,
    refresh_token_lifetime: client.refreshTokenLifetime,
  };
}

const present = (value: FieldValue): boolean => value !== undefined && value !== '';

/** Applies the present fields to `base` (a new client's defaults, or the stored client). */
function applyFields(deps: AdminDeps, base: ClientRecord, fields: ClientFields): ClientRecord {
  const known = Object.keys(deps.scopes);
  const client = { ...base };
  if (present(fields.name)) client.name = text('name', fields.name, 200);
  if (present(fields.allowed_scopes)) client.allowedScopes = list('allowed_scopes', fields.allowed_scopes, known, { allowEmpty: false });
  if (present(fields.default_scopes)) client.defaultScopes = list('default_scopes', fields.default_scopes, known, { allowEmpty: false });
  if (present(fields.grant_types)) client.grantTypes = list('grant_types', fields.grant_types, Object.keys(GRANTS), { allowEmpty: false });
  if (present(fields.can_introspect)) client.canIntrospect = boolean('can_introspect', fields.can_introspect);
  if (present(fields.access_token_lifetime)) client.accessTokenLifetime = lifetime('access_token_lifetime', fields.access_token_lifetime, ...ACCESS_TOKEN_LIFETIME_BOUNDS);
  if (present(fields.refresh_token_lifetime)) client.refreshTokenLifetime = lifetime('refresh_token_lifetime', fields.refresh_token_lifetime, ...REFRESH_TOKEN_LIFETIME_BOUNDS);
  const outside = client.defaultScopes.filter((s) => !client.allowedScopes.includes(s));
  if (outside.length > 0) throw new InvalidRequest(`default_scopes must be a subset of allowed_scopes; not allowed: ${outside.join(' ')}`);
  if (client.canIntrospect && client.type === 'public') throw new InvalidRequest('can_introspect needs a confidential client (introspection requires client authentication)');
  return client;
}

/** Registers a client; a confidential one gets a secret, returned here and never again. */
export async function createClient(deps: AdminDeps, fields: ClientFields): Promise<{ client: ClientRecord; secret?: string }> {
  if (!present(fields.name)) throw new InvalidRequest('name is required');
  if (!present(fields.type)) throw new InvalidRequest('type is required: public or confidential');
  if (!present(fields.allowed_scopes)) throw new InvalidRequest('allowed_scopes is required');
  const type = oneOf('type', fields.type, ['public', 'confidential'] as const);
  const id = present(fields.client_id) ? identifier('client_id', fields.client_id, 128) : randomId();
  const secret = type === 'confidential' ? randomSecret(PREFIX.clientSecret) : undefined;
  const base: ClientRecord = {
    id,
    name: '',
    type,
    secretHash: secret ? sha256(secret) : null,
    allowedScopes: [],
    defaultScopes: [],
    grantTypes: [DEVICE_CODE_GRANT],
    canIntrospect: false,
    accessTokenLifetime: null,
    refreshTokenLifetime: null,
  };
  const client = applyFields(deps, base, fields);
  // Without default_scopes, a request without scope gets every allowed scope.
  if (!present(fields.default_scopes)) client.defaultScopes = client.allowedScopes;
  if (!(await deps.store.createClient(client, deps.clock()))) throw new Conflict(`a client with client_id ${id} already exists`);
  return secret ? { client, secret } : { client };
}

export async function listClients(deps: AdminDeps): Promise<ClientRecord[]> {
  return deps.store.listClients();
}

export async function getClient(deps: AdminDeps, clientId: string): Promise<ClientRecord> {
  const client = await deps.store.findClient(clientId);
  if (!client) throw new NotFound(`no client with client_id ${clientId}`);
  return client;
}

/** Changes the fields given; absent fields keep their values. The type and the id never change. */
export async function updateClient(deps: AdminDeps, clientId: string, fields: ClientFields): Promise<ClientRecord> {
  const client = applyFields(deps, await getClient(deps, clientId), fields);
  if (!(await deps.store.updateClient(client))) throw new NotFound(`no client with client_id ${clientId}`);
  return client;
}

/** A new secret for a confidential client; the old one fails from now on. */
export async function rotateClientSecret(deps: AdminDeps, clientId: string): Promise<{ client: ClientRecord; secret: string }> {
  const client = await getClient(deps, clientId);
  if (client.type !== 'confidential') throw new InvalidRequest('client_id names a public client, which has no secret to rotate');
  const secret = randomSecret(PREFIX.clientSecret);
  if (!(await deps.store.setClientSecretHash(clientId, sha256(secret)))) throw new NotFound(`no client with client_id ${clientId}`);
  return { client: Object.assign({}, client, { secretHash: sha256(secret) }), secret };
}

/** Deletes the client with every device authorization and token it has. */
export async function deleteClient(deps: AdminDeps, clientId: string): Promise<void> {
  if (!(await deps.store.deleteClient(clientId))) throw new NotFound(`no client with client_id ${clientId}`);
}
