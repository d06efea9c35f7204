/**
 * examples/device-flow.ts, run as written against the running app in real time (the server's
 * clock is Date.now, the poll interval 1 s): a person approves when the example shows the code.
 */
import { expect } from 'chai';
import { connectDevice, whoAmI } from '../../examples/device-flow';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { within } from './recording';

const SHOWN = /^Open (\S+) and enter ([A-Z]{4}-[A-Z]{4})$/;

forEachDatabase('examples/device-flow.ts', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { pollInterval: 1, clock: Date.now });
  });
  after(async () => server.close());

  /** Runs connectDevice; `decision` is made in the pages as soon as the code is shown. */
  async function run(decision: 'approve' | 'deny') {
    const client = await makePublicClient(db.store);
    const person = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    expect((await browser.signIn(person.username, TEST_PASSWORD)).status).to.equal(303);

    const shown: string[] = [];
    let decided: Promise<void> | undefined;
    const controller = new AbortController();
    const show = (message: string) => {
      shown.push(message);
      const match = SHOWN.exec(message);
      if (match && !decided) {
        decided = browser.decide(match[2]!, decision).then((reply) => {
          expect(reply.status, reply.text).to.equal(200);
        });
      }
    };
    try {
      const tokens = await within(15_000, connectDevice(server.url, client.id, show, controller.signal), 'connectDevice');
      expect(decided, 'the example showed "Open ... and enter CODE"').to.not.equal(undefined);
      await decided;
      return { client, person, shown, tokens };
    } finally {
      controller.abort(); // stops the polling if the bound above was hit
    }
  }

  it('connectDevice shows the verification URI and user code, polls until approved; whoAmI returns the approver', async () => {
    const { client, person, shown, tokens } = await run('approve');
    expect(shown[0]).to.match(SHOWN);
    expect(SHOWN.exec(shown[0]!)![1]).to.equal(`${server.url}/activate`);
    expect(tokens).to.not.equal(undefined);
    expect(tokens!.scope).to.equal('profile');

    const me = await within(5_000, whoAmI(server.url, client.id, tokens!), 'whoAmI');
    expect(me).to.include({ sub: person.id, username: person.username, client_id: client.id, scope: 'profile' });
  });

  it('connectDevice on a denial says so and returns undefined', async () => {
    const { shown, tokens } = await run('deny');
    expect(tokens).to.equal(undefined);
    expect(shown.at(-1)).to.equal('The request was denied.');
  });
});
