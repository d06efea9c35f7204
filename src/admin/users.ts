/**
 * Managing the local accounts of the people who approve devices, for the admin API and the
 * CLI alike. A password is never returned, except one the server generated, once; only its
 * scrypt hash is stored. Disabling a user or setting a new password ends their sign-in
 * sessions; a disabled user's access tokens stop working at once (src/auth/bearer.ts).
 */
import { Conflict, InvalidRequest, NotFound } from '../http/errors';
import { hashPassword, randomId, randomSecret } from '../helpers/secrets';
import type { UserRecord } from '../storage/store';
import type { AdminDeps } from './clients';
import { identifier, text, type FieldValue } from './validation';

export const MIN_PASSWORD_LENGTH = 8;
/** As the sign-in form's limit. */
export const MAX_PASSWORD_LENGTH = 1024;

export interface UserFields {
  username?: FieldValue;
  name?: FieldValue;
  email?: FieldValue;
  password?: FieldValue;
}

export interface UserView {
  user_id: string;
  username: string;
  name: string;
  email: string | null;
  disabled: boolean;
}

export function userView(user: UserRecord): UserView {
  return { user_id: user.id, username: user.username, name: user.name, email: user.email, disabled: user.disabled };
}

/** The given password, checked, or a generated one (returned so it can be shown once). */
function choosePassword(value: FieldValue): { password: string; generated: boolean } {
  if (value === undefined || value === '') return { password: randomSecret('', 18), generated: true };
  const password = String(value);
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new InvalidRequest(`password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`);
  }
  return { password, generated: false };
}

function email(value: FieldValue): string | null {
  if (value === undefined || value === '') return null;
  const address = text('email', value, 320);
  if (!/^[^\s@]+@[^\s@]+$/.test(address)) throw new InvalidRequest('email must be an address such as person@example.com');
  return address;
}

/** Creates a user; `password` is set only when the server generated it. */
export async function createUser(deps: AdminDeps, fields: UserFields): Promise<{ user: UserRecord; password?: string }> {
  if (fields.username === undefined || fields.username === '') throw new InvalidRequest('username is required');
  if (fields.name === undefined || fields.name === '') throw new InvalidRequest('name is required');
  const username = identifier('username', fields.username, 128);
  const name = text('name', fields.name, 200);
  const address = email(fields.email);
  const { password, generated } = choosePassword(fields.password);
  const user: UserRecord = { id: randomId(), username, name, email: address, passwordHash: await hashPassword(password), disabled: false };
  if (!(await deps.store.createUser(user, deps.clock()))) throw new Conflict(`a user with username ${username} already exists`);
  return generated ? { user, password } : { user };
}

export async function listUsers(deps: AdminDeps): Promise<UserRecord[]> {
  return deps.store.listUsers();
}

export async function getUser(deps: AdminDeps, userId: string): Promise<UserRecord> {
  const user = await deps.store.findUserById(userId);
  if (!user) throw new NotFound(`no user with user_id ${userId}`);
  return user;
}

/** For the CLI: a user named by username, or else by id. */
export async function findUserByReference(deps: AdminDeps, reference: string): Promise<UserRecord> {
  const user = (await deps.store.findUserByUsername(reference)) ?? (await deps.store.findUserById(reference));
  if (!user) throw new NotFound(`no user with username or user_id ${reference}`);
  return user;
}

/** Disables (their tokens stop working, their sessions end) or enables a user. */
export async function setUserDisabled(deps: AdminDeps, userId: string, disabled: boolean): Promise<UserRecord> {
  if (!(await deps.store.updateUser(userId, { disabled }))) throw new NotFound(`no user with user_id ${userId}`);
  return getUser(deps, userId);
}

/** Sets a new password (given, or generated and returned); the old one fails from now on. */
export async function resetPassword(deps: AdminDeps, userId: string, given: FieldValue): Promise<{ user: UserRecord; password?: string }> {
  const { password, generated } = choosePassword(given);
  if (!(await deps.store.updateUser(userId, { passwordHash: await hashPassword(password) }))) throw new NotFound(`no user with user_id ${userId}`);
  const user = await getUser(deps, userId);
  return generated ? { user, password } : { user };
}
