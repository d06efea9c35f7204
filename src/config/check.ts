/**
 * Small checks run at boot, for options from the environment and from code alike. Each throws
 * a ConfigError that names the setting and says what is allowed, so a bad value stops the
 * server before it takes a request.
 */
import { guessesPerCodeLifetime } from '../storage/attempt-policy';
import type { AttemptPolicy } from '../storage/store';
import { settings, type Defaults } from './defaults';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function label(key: keyof Defaults): string {
  return `${key} (${settings[key].env})`;
}

export function checkInteger(key: keyof Defaults, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${label(key)} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** An issuer is an https (or, for development, http) URL without query or fragment (RFC 8414 §2). */
export function checkIssuer(value: unknown): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new ConfigError(`${label('issuer')} must be an absolute URL such as https://auth.example.com, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`${label('issuer')} must use https (or http for development), got ${url.protocol}`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`${label('issuer')} must not have a query, fragment or credentials (RFC 8414 §2)`);
  }
  return url.href.replace(/\/+$/, '');
}

export function checkOptionalUri(key: keyof Defaults, value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return new URL(String(value)).href;
  } catch {
    throw new ConfigError(`${label(key)} must be an absolute URL, got ${JSON.stringify(value)}`);
  }
}

export const MIN_SECRET_KEY_LENGTH = 32;

export function checkSecretKeys(keys: unknown): string[] {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new ConfigError(`${label('secretKeys')} needs at least one key of ${MIN_SECRET_KEY_LENGTH} or more characters`);
  }
  keys.forEach((key, i) => {
    if (typeof key !== 'string' || key.length < MIN_SECRET_KEY_LENGTH) {
      throw new ConfigError(`${label('secretKeys')}: key ${i + 1} is shorter than ${MIN_SECRET_KEY_LENGTH} characters`);
    }
  });
  return keys as string[];
}

/** Admin tokens are optional (none: the admin API is off), but each must be long enough. */
export function checkAdminTokens(tokens: unknown): string[] {
  if (tokens === undefined) return [];
  if (!Array.isArray(tokens)) throw new ConfigError(`${label('adminTokens')} must be a list of tokens`);
  tokens.forEach((token, i) => {
    if (typeof token !== 'string' || token.length < MIN_SECRET_KEY_LENGTH) {
      throw new ConfigError(`${label('adminTokens')}: token ${i + 1} is shorter than ${MIN_SECRET_KEY_LENGTH} characters`);
    }
  });
  return tokens as string[];
}

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function checkScopes(scopes: unknown): Record<string, string> {
  if (typeof scopes !== 'object' || scopes === null || Object.keys(scopes).length === 0) {
    throw new ConfigError(`${label('scopes')} must name at least one scope`);
  }
  for (const [name, description] of Object.entries(scopes)) {
    if (!SCOPE_TOKEN.test(name)) {
      throw new ConfigError(`${label('scopes')}: ${JSON.stringify(name)} is not a valid scope name (RFC 6749 §3.3)`);
    }
    if (typeof description !== 'string' || description.trim() === '') {
      throw new ConfigError(`${label('scopes')}: scope ${name} needs a description`);
    }
  }
  return scopes as Record<string, string>;
}

export function checkUserCode(length: unknown, alphabet: unknown): { length: number; alphabet: string } {
  const n = checkInteger('userCodeLength', length, 6, 32);
  if (typeof alphabet !== 'string' || new Set(alphabet).size !== alphabet.length || alphabet.length < 10) {
    throw new ConfigError(`${label('userCodeAlphabet')} must be at least 10 distinct characters`);
  }
  if (!/^[A-Z0-9]+$/.test(alphabet)) {
    throw new ConfigError(`${label('userCodeAlphabet')} may hold only upper-case letters and digits, so that input can be normalised`);
  }
  return { length: n, alphabet };
}

/**
 * RFC 8628 §5.1: the chance that one attacker (one IP address or one account) guesses one
 * live user code in its lifetime, given the limits, must not exceed 2^-ceilingBits.
 * Returns that chance as bits (-log2 p) for the documentation.
 */
export function checkGuessingCeiling(
  userCode: { length: number; alphabet: string },
  codeLifetimeSeconds: number,
  limits: AttemptPolicy,
  ceilingBits: number,
): number {
  const guesses = guessesPerCodeLifetime(limits, codeLifetimeSeconds);
  const entropyBits = userCode.length * Math.log2(userCode.alphabet.length);
  const bits = entropyBits - Math.log2(guesses);
  if (bits < ceilingBits) {
    throw new ConfigError(
      `${label('userCodeLength')}, ${label('userCodeAlphabet')} and ${label('userCodeMaxFailures')}: ` +
        `a user code of ${userCode.length} characters from ${userCode.alphabet.length} has ${entropyBits.toFixed(1)} bits; ` +
        `with ${guesses} guesses allowed in its lifetime one attacker's chance is 2^-${bits.toFixed(1)}, ` +
        `above the ceiling of 2^-${ceilingBits} (${label('guessCeilingBits')}, RFC 8628 §5.1)`,
    );
  }
  return bits;
}
