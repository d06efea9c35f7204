/**
 * Checks of the admin API's and CLI's input, shared by both. Every failure is an
 * invalid_request that names the field, so an operator sees what to fix. Values arrive as
 * strings from the CLI and, already coerced by the router, as numbers and booleans from HTTP.
 */
import { SCOPE_TOKEN } from '../config/check';
import { InvalidRequest } from '../http/errors';

export type FieldValue = string | number | boolean | undefined;

/** Printable text without control characters, from 1 to `max` characters, trimmed. */
export function text(field: string, value: FieldValue, max: number): string {
  const s = String(value ?? '').trim();
  if (s === '' || s.length > max) throw new InvalidRequest(`${field} must be 1 to ${max} characters`);
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(s)) throw new InvalidRequest(`${field} must not contain control characters`);
  return s;
}

/** An identifier: letters, digits and `. _ ~ - @ +`, 1 to `max` characters. */
export function identifier(field: string, value: FieldValue, max: number): string {
  const s = String(value ?? '');
  if (!new RegExp(`^[A-Za-z0-9._~@+-]{1,${max}}$`).test(s)) {
    throw new InvalidRequest(`${field} must be 1 to ${max} letters, digits or . _ ~ - @ +`);
  }
  return s;
}

export function oneOf<T extends string>(field: string, value: FieldValue, allowed: readonly T[]): T {
  const s = String(value ?? '');
  if (!(allowed as readonly string[]).includes(s)) throw new InvalidRequest(`${field} must be one of: ${allowed.join(', ')}`);
  return s as T;
}

export function boolean(field: string, value: FieldValue): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new InvalidRequest(`${field} must be true or false`);
}

/** A whole number in [min, max], or 0 for "the server's setting" (null). */
export function lifetime(field: string, value: FieldValue, min: number, max: number): number | null {
  const n = typeof value === 'number' ? value : /^\d{1,12}$/.test(String(value)) ? Number(value) : NaN;
  if (n === 0) return null;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidRequest(`${field} must be a whole number of seconds from ${min} to ${max}, or 0 for the server's setting`);
  }
  return n;
}

/** A space-separated list (as OAuth's `scope`), each entry one of `known`, without repeats. */
export function list(field: string, value: FieldValue, known: readonly string[], options: { allowEmpty: boolean }): string[] {
  const entries = String(value ?? '').split(' ').filter(Boolean);
  if (entries.length === 0 && !options.allowEmpty) throw new InvalidRequest(`${field} must name at least one value`);
  for (const entry of entries) {
    if (!SCOPE_TOKEN.test(entry) || !known.includes(entry)) {
      throw new InvalidRequest(`${field}: unknown value ${SCOPE_TOKEN.test(entry) ? entry : '(malformed)'}; known: ${known.join(' ')}`);
    }
  }
  return [...new Set(entries)];
}
