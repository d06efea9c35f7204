/** RFC 8628 §5.4: the confirm page tells the person enough to spot a request that is not theirs. */
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

forEachDatabase('what the confirm page shows (RFC 8628 §3.3.1, §5.4)', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { trustProxy: true });
  });
  after(async () => server.close());

  it('RFC 8628 §5.4: when and from where the device asked, its user agent, and when the code expires', async () => {
    const client = await makePublicClient(db.store, { name: 'Kitchen Display' });
    const started = await server.call('POST', '/oauth/device_authorization', {
      form: { client_id: client.id },
      headers: { 'user-agent': 'KitchenOS/2.1 (firmware 7)', 'x-forwarded-for': '203.0.113.77' },
    });
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    await browser.signIn(user.username, TEST_PASSWORD);
    server.clock.advance(60);
    const confirm = await browser.get('/activate', { user_code: started.json.user_code });
    expect(confirm.status).to.equal(200);
    // The test clock starts at 2026-11-27 12:00 UTC; the code lives 900 s.
    expect(confirm.text).to.include('Requested on Nov 27, 2026, 12:00 PM UTC from 203.0.113.77.');
    expect(confirm.text).to.include('Device: KitchenOS/2.1 (firmware 7)');
    expect(confirm.text).to.include('The code expires at 12:15 PM UTC, in 14 minutes.');
    expect(confirm.text).to.include('Kitchen Display wants to connect to your account');
  });

  it('Approve and Deny are equally plain: the same element, the same class', async () => {
    const client = await makePublicClient(db.store);
    const started = await server.call('POST', '/oauth/device_authorization', { form: { client_id: client.id } });
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    await browser.signIn(user.username, TEST_PASSWORD);
    const confirm = await browser.get('/activate', { user_code: started.json.user_code });
    expect(confirm.text).to.include('<button type="submit" name="decision" value="approve" class="choice">Approve</button>');
    expect(confirm.text).to.include('<button type="submit" name="decision" value="deny" class="choice">Deny</button>');
  });
});
