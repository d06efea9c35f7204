import { expect } from 'chai';
import { deviceCodeKey, newDeviceCode, newTimedToken, randomId, randomSecret, sha256, tokenKey, PREFIX } from '../../src/helpers/secrets';

describe('random secrets and row ids (src/helpers/secrets.ts)', () => {
  it('RFC 6749 §10.10: a secret carries 256 random bits (43 base64url characters) after its prefix', () => {
    const secret = randomSecret(PREFIX.deviceCode);
    expect(secret.startsWith(PREFIX.deviceCode)).to.equal(true);
    const body = secret.slice(PREFIX.deviceCode.length);
    expect(body).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(body, 'base64url')).to.have.length(32);
  });

  it('RFC 8628 §3.2: a device code is the prefix, the time in ms (12 hex) and 256 random bits', () => {
    const code = newDeviceCode(0x19ad3c2f1a0);
    expect(code).to.match(/^o2d_dc_019ad3c2f1a0[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(code.slice(-43), 'base64url')).to.have.length(32);
    expect(newDeviceCode(0x19ad3c2f1a0)).to.not.equal(code);
  });

  it('a device code is stored by a key led by its time, so that new keys sort after old ones', () => {
    const earlier = newDeviceCode(1_764_000_000_000);
    const later = newDeviceCode(1_764_000_000_001);
    const [a, b] = [deviceCodeKey(earlier), deviceCodeKey(later)];
    expect(a).to.have.length(64).and.match(/^[0-9a-f]+$/);
    expect(a.slice(0, 12)).to.equal((1_764_000_000_000).toString(16).padStart(12, '0'));
    expect(a.slice(12)).to.equal(sha256(earlier).slice(0, 52));
    expect(a < b).to.equal(true);
    expect(deviceCodeKey(earlier)).to.equal(a); // the same code always finds the same row
  });

  it('a device code without the time (issued before the timed key, or made up) is keyed by its whole SHA-256', () => {
    const untimed = randomSecret(PREFIX.deviceCode);
    expect(deviceCodeKey(untimed)).to.equal(sha256(untimed));
    // Looks timed but is not one of ours (a character outside base64url, or the wrong length).
    for (const odd of [`${PREFIX.deviceCode}019ad3c2f1a0${'A'.repeat(42)}=`, `${PREFIX.deviceCode}019ad3c2f1a0${'A'.repeat(44)}`, '']) {
      expect(deviceCodeKey(odd)).to.equal(sha256(odd));
    }
  });

  it('RFC 6749 §10.10: an opaque token is its prefix, the time in ms (12 hex) and 256 random bits', () => {
    for (const prefix of [PREFIX.accessToken, PREFIX.refreshToken]) {
      const token = newTimedToken(prefix, 0x19ad3c2f1a0);
      expect(token).to.match(new RegExp(`^${prefix}019ad3c2f1a0[A-Za-z0-9_-]{43}$`));
      expect(Buffer.from(token.slice(-43), 'base64url')).to.have.length(32);
    }
  });

  it('a token is stored by a key led by its time, so that new keys sort after old ones', () => {
    for (const prefix of [PREFIX.accessToken, PREFIX.refreshToken]) {
      const earlier = newTimedToken(prefix, 1_764_000_000_000);
      const later = newTimedToken(prefix, 1_764_000_000_001);
      const [a, b] = [tokenKey(earlier), tokenKey(later)];
      expect(a).to.have.length(64).and.match(/^[0-9a-f]+$/);
      expect(a.slice(0, 12)).to.equal((1_764_000_000_000).toString(16).padStart(12, '0'));
      expect(a.slice(12)).to.equal(sha256(earlier).slice(0, 52));
      expect(a < b).to.equal(true);
      expect(tokenKey(earlier)).to.equal(a);
    }
  });

  it('a token without the time (issued before timed tokens, a JWT, a device code, made up) is keyed by its whole SHA-256', () => {
    const timedCode = newDeviceCode(1_764_000_000_000);
    const odd = [
      randomSecret(PREFIX.accessToken),
      randomSecret(PREFIX.refreshToken),
      timedCode, // a device code is not a token, whatever its shape
      `${PREFIX.clientSecret}019ad3c2f1a0${'A'.repeat(43)}`,
      `${PREFIX.accessToken}019ad3c2f1a0${'A'.repeat(42)}=`,
      `${PREFIX.accessToken}019ad3c2f1a0${'A'.repeat(44)}`,
      `${PREFIX.accessToken}019AD3C2F1A0${'A'.repeat(43)}`,
      'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
      '',
    ];
    for (const token of odd) expect(tokenKey(token), token).to.equal(sha256(token));
  });

  it('RFC 6749 §10.10: secrets drawn across many refills of the pool never repeat and use every bit', () => {
    // 2,000 secrets of 32 bytes go through the 4 KiB pool about 16 times.
    const seen = new Set<string>();
    const ones = new Array<number>(256).fill(0);
    for (let i = 0; i < 2000; i++) {
      const secret = randomSecret();
      expect(seen.has(secret)).to.equal(false);
      seen.add(secret);
      const bytes = Buffer.from(secret, 'base64url');
      for (let bit = 0; bit < 256; bit++) ones[bit]! += (bytes[bit >> 3]! >> (bit & 7)) & 1;
    }
    // Each bit is set in about half of the 2,000 draws (binomial sd ~22): a stuck or zeroed byte
    // (a pool handed out twice, or after being zeroed) would show as 0 or 2,000.
    for (const count of ones) expect(count).to.be.within(850, 1150);
  });

  it('stored hashes are SHA-256 in lowercase hex of the UTF-8 text (FIPS 180-2 test vectors)', () => {
    // Every stored secret is found by this hash: a change of algorithm or encoding loses them all.
    expect(sha256('abc')).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256('')).to.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // U+00E9 hashed as its UTF-8 bytes C3 A9 (as Latin-1, E9, it would be another hash).
    expect(sha256('\u00e9')).to.equal('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('a secret larger than the pool is drawn directly', () => {
    expect(Buffer.from(randomSecret('', 5000), 'base64url')).to.have.length(5000);
  });

  it('a row id is 32 hex characters: the time, then 80 random bits', () => {
    const now = Date.UTC(2026, 10, 30, 12, 0, 0);
    const id = randomId(now);
    expect(id).to.match(/^[0-9a-f]{32}$/);
    expect(parseInt(id.slice(0, 12), 16)).to.equal(now);
    expect(randomId(now).slice(12)).not.to.equal(id.slice(12));
  });

  it('row ids sort by creation time, so new rows go to the end of their primary-key index', () => {
    const ids = [0, 1, 2, 1000, 1_000_000].map((ms) => randomId(Date.UTC(2026, 0, 1) + ms));
    expect([...ids].sort()).to.deep.equal(ids);
  });
});
