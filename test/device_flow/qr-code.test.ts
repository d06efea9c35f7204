/** A QR code of verification_uri_complete, made on the server, for devices that show images. */
import { expect } from 'chai';
import QRCode from 'qrcode';
import { forEachDatabase } from '../support/databases';
import { startServer, type RunningServer } from '../support/server';

forEachDatabase('QR code of verification_uri_complete', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('encodes the verification link with the normalised code, as SVG, not stored', async () => {
    const reply = await server.call('GET', '/activate/qr', { query: { user_code: 'wdjb mjht' } });
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.match(/^image\/svg\+xml/);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    // The same generator fed the expected link draws the same symbol: the content is that link.
    const expected = await QRCode.toString(`${server.url}/activate?user_code=WDJB-MJHT`, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    expect(reply.text).to.equal(expected);
    const other = await QRCode.toString(`${server.url}/activate?user_code=WDJB-MJHV`, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    expect(reply.text).not.to.equal(other);
  });

  it('answers the same for a code that exists and one that does not (it never looks codes up)', async () => {
    const made = await server.call('GET', '/activate/qr', { query: { user_code: 'BCDF-GHJK' } });
    expect(made.status).to.equal(200);
  });

  it('text that cannot be a user code is invalid_request', async () => {
    const reply = await server.call('GET', '/activate/qr', { query: { user_code: 'hello' } });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    const missing = await server.call('GET', '/activate/qr');
    expect(missing.status).to.equal(400);
    expect(missing.json.error_description).to.equal('user_code is required');
  });
});
