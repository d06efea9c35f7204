/** Rotating the secret keys: a new key signs, older keys still verify, so nobody is signed out. */
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { makeUser, startServer, TEST_PASSWORD, TEST_SECRET_KEYS } from '../support/server';
import { startFlow } from './flow';

const NEW_KEY = 'rotated-key-abcdefghijklmnopqrstuvwxyz-0123456789';

forEachDatabase('secret key rotation', (db) => {
  it('sessions, CSRF tokens and live user codes made under the old key work after a new key is put in front', async () => {
    const before = await startServer(db.store, { secretKeys: TEST_SECRET_KEYS });
    const user = await makeUser(db.store);
    const browser = new BrowserSession(before.url);
    await browser.signIn(user.username, TEST_PASSWORD);
    const flow = await startFlow(before, db.store);
    const form = await browser.get('/activate');
    const oldCsrf = BrowserSession.csrf(form);
    await before.close();

    const after = await startServer(db.store, { secretKeys: [NEW_KEY, ...TEST_SECRET_KEYS] });
    try {
      const moved = new BrowserSession(after.url);
      for (const name of ['o2d_session', 'o2d_session.sig', 'o2d_csrf', 'o2d_csrf.sig']) moved.setCookie(name, browser.cookie(name)!);
      const confirm = await moved.post('/activate', { csrf_token: oldCsrf, user_code: flow.userCode });
      expect(confirm.status, 'old session, old CSRF token, code hashed under the old key').to.equal(200);
      expect(confirm.text).to.include(user.name);
    } finally {
      await after.close();
    }

    const withoutOldKey = await startServer(db.store, { secretKeys: [NEW_KEY] });
    try {
      const stranger = new BrowserSession(withoutOldKey.url);
      for (const name of ['o2d_session', 'o2d_session.sig']) stranger.setCookie(name, browser.cookie(name)!);
      const reply = await stranger.get('/activate', { user_code: flow.userCode });
      expect(reply.status, 'once the old key is gone, its signatures no longer verify').to.equal(303);
    } finally {
      await withoutOldKey.close();
    }
  });
});
