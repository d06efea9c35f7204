import { expect } from 'chai';
import { USER_CODE_ALPHABET_RFC8628 } from '../../src/config/defaults';
import { formatUserCode, generateUserCode, normalizeUserCode, userCodeHashes } from '../../src/helpers/user-code';

const RFC = { length: 8, alphabet: USER_CODE_ALPHABET_RFC8628 };

describe('user codes (RFC 8628 §6.1)', () => {
  describe('normalizeUserCode', () => {
    it('RFC 8628 §6.1: the canonical form XXXX-XXXX normalises to the stored form', () => {
      expect(normalizeUserCode('WDJB-MJHT', RFC)).to.equal('WDJBMJHT');
    });

    it('RFC 8628 §6.1: case is ignored', () => {
      expect(normalizeUserCode('wdjb-mjht', RFC)).to.equal('WDJBMJHT');
      expect(normalizeUserCode('WdJb-mJhT', RFC)).to.equal('WDJBMJHT');
    });

    it('RFC 8628 §6.1: dashes and spaces are ignored wherever they are', () => {
      expect(normalizeUserCode('WDJBMJHT', RFC)).to.equal('WDJBMJHT');
      expect(normalizeUserCode(' WDJB MJHT ', RFC)).to.equal('WDJBMJHT');
      expect(normalizeUserCode('W-D-J-B-M-J-H-T', RFC)).to.equal('WDJBMJHT');
      expect(normalizeUserCode('wd jb\t-mj ht', RFC)).to.equal('WDJBMJHT');
    });

    it('RFC 8628 §6.1: full-width characters typed on a CJK keyboard are folded to ASCII (ＷＤＪＢ－ＭＪＨＴ)', () => {
      expect(normalizeUserCode('ＷＤＪＢ－ＭＪＨＴ', RFC)).to.equal('WDJBMJHT');
      expect(normalizeUserCode('ｗｄｊｂ ｍｊｈｔ', RFC)).to.equal('WDJBMJHT');
    });

    it('characters outside the alphabet (vowels, digits, punctuation) are dropped', () => {
      expect(normalizeUserCode('WDJB.MJHT!', RFC)).to.equal('WDJBMJHT');
      expect(normalizeUserCode('WDJB-MJHT-AEIOU', RFC)).to.equal('WDJBMJHT');
    });

    it('a code too short is undefined', () => {
      expect(normalizeUserCode('WDJB-MJH', RFC)).to.equal(undefined);
      expect(normalizeUserCode('', RFC)).to.equal(undefined);
      expect(normalizeUserCode('----', RFC)).to.equal(undefined);
    });

    it('a code too long is undefined', () => {
      expect(normalizeUserCode('WDJB-MJHT-B', RFC)).to.equal(undefined);
      expect(normalizeUserCode('WDJBMJHTWDJBMJHT', RFC)).to.equal(undefined);
    });

    it('follows a configured length and alphabet', () => {
      const digits = { length: 10, alphabet: '0123456789' };
      expect(normalizeUserCode('012-345-6789', digits)).to.equal('0123456789');
      expect(normalizeUserCode('０１２３４５６７８９', digits)).to.equal('0123456789');
      expect(normalizeUserCode('WDJB-MJHT', digits)).to.equal(undefined);
    });
  });

  describe('formatUserCode', () => {
    it('RFC 8628 §6.1: shows a code in groups of four separated by dashes', () => {
      expect(formatUserCode('WDJBMJHT')).to.equal('WDJB-MJHT');
      expect(formatUserCode('ABCDEFGHJKLM')).to.equal('ABCD-EFGH-JKLM');
    });

    it('keeps a short last group', () => {
      expect(formatUserCode('ABCDEFGHJ')).to.equal('ABCD-EFGH-J');
      expect(formatUserCode('ABC')).to.equal('ABC');
      expect(formatUserCode('')).to.equal('');
    });

    it('formatting and normalising are inverses', () => {
      for (let i = 0; i < 50; i++) {
        const code = generateUserCode(RFC);
        expect(normalizeUserCode(formatUserCode(code), RFC)).to.equal(code);
      }
    });
  });

  describe('generateUserCode', () => {
    it('RFC 8628 §6.1: draws exactly `length` characters, only from the alphabet', () => {
      const allowed = new RegExp(`^[${USER_CODE_ALPHABET_RFC8628}]{8}$`);
      for (let i = 0; i < 200; i++) expect(generateUserCode(RFC)).to.match(allowed);
    });

    it('RFC 8628 §6.1: the default alphabet is base-20 without vowels', () => {
      expect(USER_CODE_ALPHABET_RFC8628).to.equal('BCDFGHJKLMNPQRSTVWXZ');
      expect(USER_CODE_ALPHABET_RFC8628).not.to.match(/[AEIOUY0-9]/);
    });

    it('follows a configured length and alphabet', () => {
      for (let i = 0; i < 100; i++) expect(generateUserCode({ length: 12, alphabet: '0123456789' })).to.match(/^[0-9]{12}$/);
      for (let i = 0; i < 100; i++) expect(generateUserCode({ length: 6, alphabet: 'XYZ' })).to.match(/^[XYZ]{6}$/);
    });

    it('RFC 8628 §5.1: uses every character of the alphabet (uniform draws) and does not repeat codes', () => {
      const seen = new Set<string>();
      const codes = new Set<string>();
      for (let i = 0; i < 500; i++) {
        const code = generateUserCode(RFC);
        codes.add(code);
        for (const ch of code) seen.add(ch);
      }
      // 4000 draws from 20 characters: a missing character would mean a broken generator.
      expect([...seen].sort().join('')).to.equal([...USER_CODE_ALPHABET_RFC8628].sort().join(''));
      // 20^8 possible codes: 500 draws practically never collide.
      expect(codes.size).to.equal(500);
    });
  });

  describe('userCodeHashes', () => {
    it('gives one keyed hash per key, newest first, and different keys give different hashes', () => {
      const hashes = userCodeHashes('WDJBMJHT', ['k'.repeat(32), 'j'.repeat(32)]);
      expect(hashes).to.have.length(2);
      expect(hashes[0]).to.match(/^[0-9a-f]{64}$/);
      expect(hashes[0]).not.to.equal(hashes[1]);
      expect(userCodeHashes('WDJBMJHT', ['k'.repeat(32)])).to.deep.equal([hashes[0]]);
      expect(userCodeHashes('WDJBMJHV', ['k'.repeat(32)])[0]).not.to.equal(hashes[0]);
    });
  });
});
