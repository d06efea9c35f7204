/** Every text of the pages comes from the message catalogue, in the browser's language. */
import { expect } from 'chai';
import { de } from '../../src/views/messages/de';
import { en } from '../../src/views/messages/en';
import { negotiateLocale, translator } from '../../src/views/i18n';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { startFlow } from './flow';

describe('choosing the language (Accept-Language, RFC 9110 §12.5.4)', () => {
  it('picks the supported language of highest weight, then the first listed', () => {
    expect(negotiateLocale(undefined)).to.equal('en');
    expect(negotiateLocale('de-DE,de;q=0.9,en;q=0.8')).to.equal('de');
    expect(negotiateLocale('fr-FR, de;q=0.5, en;q=0.4')).to.equal('de');
    expect(negotiateLocale('en;q=0.3, de;q=0.7')).to.equal('de');
    expect(negotiateLocale('de;q=0, en')).to.equal('en');
    expect(negotiateLocale('fr, es')).to.equal('en');
    expect(negotiateLocale('DE')).to.equal('de');
    expect(negotiateLocale(';;;,,,q=abc')).to.equal('en');
  });

  it('every catalogue has every key and fills in the same placeholders', () => {
    expect(Object.keys(de).sort()).to.deep.equal(Object.keys(en).sort());
    for (const key of Object.keys(en) as Array<keyof typeof en>) {
      const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(names(de[key]), key).to.deep.equal(names(en[key]));
    }
    expect(translator('de')('confirm.heading', { client: 'TV' })).to.equal('TV möchte sich mit Ihrem Konto verbinden');
  });
});

forEachDatabase('pages in the browser language', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('German browsers get German pages with Content-Language and html lang', async () => {
    const browser = new BrowserSession(server.url);
    const page = await browser.send('GET', '/activate', { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' } });
    expect(page.headers.get('content-language')).to.equal('de');
    expect(page.headers.get('vary')).to.include('Accept-Language');
    expect(page.text).to.include('<html lang="de">');
    expect(page.text).to.include('<h1>Gerät verbinden</h1>');
  });

  it('the confirm page, its errors and the result page are translated too', async () => {
    const flow = await startFlow(server, db.store);
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const de = { 'accept-language': 'de' };
    await browser.signIn(user.username, TEST_PASSWORD);
    const form = await browser.send('GET', '/activate', { headers: de });
    const confirm = await browser.send('POST', '/activate', { form: { csrf_token: BrowserSession.csrf(form), user_code: flow.userCode }, headers: de });
    expect(confirm.text).to.include('möchte sich mit Ihrem Konto verbinden');
    expect(confirm.text).to.include('>Erlauben<');
    expect(confirm.text).to.include('<strong>Ihren Namen und Benutzernamen sehen</strong>');
    expect(confirm.text).to.include('>Ablehnen<');
    const result = await browser.send('POST', '/activate/decision', {
      form: { csrf_token: BrowserSession.csrf(confirm), user_code: flow.userCode, decision: 'approve' },
      headers: de,
    });
    expect(result.text).to.include('<h1>Gerät verbunden</h1>');
    const again = await browser.send('POST', '/activate/decision', {
      form: { csrf_token: BrowserSession.csrf(confirm), user_code: flow.userCode, decision: 'approve' },
      headers: de,
    });
    expect(again.status).to.equal(409);
    expect(again.text).to.include('<h1>Code bereits verwendet</h1>');
  });
});
