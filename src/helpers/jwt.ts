/**
 * JWT access tokens (RFC 9068), signed here with node:crypto: RS256 for RSA keys, ES256 for
 * P-256 keys. The newest key signs; every configured key is published in the JWK Set, so a
 * key can be rotated by putting a new one first and dropping the old one once the tokens it
 * signed have expired. A JWT is still stored by its hash, so revocation holds for it too.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyObject;
  /** The public JWK, as published. */
  jwk: JsonWebKey & { kid: string; use: 'sig'; alg: string };
}

/** RFC 7638 thumbprint of the public key: a stable kid. */
function thumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** A PEM private key (PKCS#8 or PKCS#1/SEC1) -> a signing key; throws for other key types. */
export function signingKeyFromPem(pem: string | KeyObject): SigningKey {
  const privateKey = typeof pem === 'string' ? createPrivateKey(pem) : pem;
  const type = privateKey.asymmetricKeyType;
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  const alg = type === 'rsa' ? 'RS256' : type === 'ec' && curve === 'prime256v1' ? 'ES256' : undefined;
  if (!alg) throw new Error(`JWT signing keys must be RSA or EC P-256, got ${type}${curve ? ` ${curve}` : ''}`);
  if (type === 'rsa' && (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('RSA JWT signing keys need at least 2048 bits');
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = thumbprint(publicJwk);
  return { kid, alg, privateKey, jwk: Object.assign({}, publicJwk, { kid, use: 'sig' as const, alg }) };
}

export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  /** The token's id, the same as its row's, so introspection and revocation name it. */
  jti: string;
}

/** A compact JWS with `typ: at+jwt` (RFC 9068 §2.1). */
export function signAccessToken(key: SigningKey, claims: AccessTokenClaims): string {
  const header = { alg: key.alg, typ: 'at+jwt', kid: key.kid };
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = sign('sha256', Buffer.from(input), key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}
