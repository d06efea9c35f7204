import { expect } from 'chai';
import { safeReturnTo } from '../../src/actions/activation/pages';
import { InvalidRequest } from '../../src/http/errors';
import { parseForm } from '../../src/http/form-body';

describe('form bodies (RFC 6749 Appendix B, §3.2)', () => {
  describe('parseForm', () => {
    it('reads name=value pairs', () => {
      expect(parseForm('client_id=tv&scope=profile')).to.deep.equal({ client_id: 'tv', scope: 'profile' });
      expect(parseForm('')).to.deep.equal({});
    });

    it('RFC 6749 §3.2: a parameter sent without a value is treated as omitted', () => {
      const form = parseForm('client_id=tv&scope=&client_secret');
      expect(form).to.deep.equal({ client_id: 'tv' });
      expect(form).not.to.have.property('scope');
      expect(form).not.to.have.property('client_secret');
    });

    it('RFC 6749 §3.2: a repeated parameter is InvalidRequest naming the parameter', () => {
      let thrown: unknown;
      try {
        parseForm('client_id=tv&scope=profile&scope=email');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(InvalidRequest);
      const error = thrown as InvalidRequest;
      expect(error.status).to.equal(400);
      expect(error.error).to.equal('invalid_request');
      expect(error.message).to.include('scope');
      expect(error.message).not.to.include('client_id');
    });

    it('RFC 6749 §3.2: a repeated parameter is refused even when both values are equal', () => {
      expect(() => parseForm('device_code=abc&device_code=abc')).to.throw(InvalidRequest, 'device_code');
    });

    it('RFC 6749 Appendix B: "+" decodes to a space', () => {
      expect(parseForm('scope=profile+email')).to.deep.equal({ scope: 'profile email' });
    });

    it('RFC 6749 Appendix B: percent-encoded octets are decoded as UTF-8', () => {
      expect(parseForm('client_secret=a%2Bb%26c%3Dd%25')).to.deep.equal({ client_secret: 'a+b&c=d%' });
      expect(parseForm('name=Ren%C3%A9e%20%E2%9C%93')).to.deep.equal({ name: 'Renée ✓' });
      expect(parseForm('user%5Fcode=WDJB-MJHT')).to.deep.equal({ user_code: 'WDJB-MJHT' });
    });

    it('a parameter named __proto__ is an ordinary parameter, and its repetition is refused', () => {
      expect(Object.keys(parseForm('__proto__=x&a=1'))).to.deep.equal(['__proto__', 'a']);
      expect(() => parseForm('__proto__=x&__proto__=y')).to.throw(InvalidRequest, '__proto__ is repeated');
    });

    it('names are case-sensitive: Scope and scope are different parameters', () => {
      expect(parseForm('scope=a&Scope=b')).to.deep.equal({ scope: 'a', Scope: 'b' });
    });
  });

  describe('safeReturnTo (no open redirect after sign-in)', () => {
    it('keeps a path on this server, with its query', () => {
      expect(safeReturnTo('/activate')).to.equal('/activate');
      expect(safeReturnTo('/activate?user_code=WDJB-MJHT')).to.equal('/activate?user_code=WDJB-MJHT');
    });

    it('refuses nothing at all', () => {
      expect(safeReturnTo(undefined)).to.equal(undefined);
      expect(safeReturnTo('')).to.equal(undefined);
    });

    it('refuses absolute URLs and relative paths', () => {
      expect(safeReturnTo('https://evil.example/')).to.equal(undefined);
      expect(safeReturnTo('javascript:alert(1)')).to.equal(undefined);
      expect(safeReturnTo('activate')).to.equal(undefined);
    });

    it('refuses protocol-relative URLs and backslash tricks that browsers read as another host', () => {
      expect(safeReturnTo('//evil.example/')).to.equal(undefined);
      expect(safeReturnTo('/\\evil.example/')).to.equal(undefined);
      expect(safeReturnTo('/activate\\..\\evil')).to.equal(undefined);
    });

    it('refuses spaces, control characters and non-ASCII (header injection, look-alikes)', () => {
      expect(safeReturnTo('/activate now')).to.equal(undefined);
      expect(safeReturnTo('/activate\r\nSet-Cookie: x=1')).to.equal(undefined);
      expect(safeReturnTo('/\tevil.example')).to.equal(undefined);
      expect(safeReturnTo('/activaté')).to.equal(undefined);
    });
  });
});
