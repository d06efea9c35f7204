/**
 * User codes (RFC 8628 §6.1): drawn uniformly from an alphabet without vowels or look-alikes,
 * shown in groups of four, and normalised on input so that case, dashes, spaces and other
 * characters outside the alphabet do not matter.
 */
import { randomInt } from 'node:crypto';
import { hmacSha256 } from './secrets';

export interface UserCodeFormat {
  length: number;
  alphabet: string;
}

/** A uniformly random code (crypto.randomInt rejects biased draws). */
export function generateUserCode({ length, alphabet }: UserCodeFormat): string {
  let code = '';
  for (let i = 0; i < length; i++) code += alphabet[randomInt(alphabet.length)];
  return code;
}

/** WDJBMJHT -> WDJB-MJHT */
export function formatUserCode(normalized: string): string {
  return normalized.match(/.{1,4}/g)?.join('-') ?? '';
}

/**
 * What the person typed -> the stored form, or undefined when it cannot be a code. NFKC folds
 * full-width and other compatibility look-alikes to ASCII before upper-casing, then everything
 * outside the alphabet is dropped.
 */
export function normalizeUserCode(input: string, { length, alphabet }: UserCodeFormat): string | undefined {
  let code = '';
  for (const ch of input.normalize('NFKC').toUpperCase()) {
    if (alphabet.includes(ch)) code += ch;
  }
  return code.length === length ? code : undefined;
}

/** Keyed hashes of a normalised code, one per key, newest first (for lookups across a key rotation). */
export function userCodeHashes(normalized: string, keys: string[]): string[] {
  return keys.map((key) => hmacSha256(key, `user_code:${normalized}`));
}
