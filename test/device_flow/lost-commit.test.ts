/**
 * An exchange whose commit happened although the database connection died before it was
 * acknowledged (a database killed mid-commit; the outage test in test/robustness/faults.test.ts
 * meets it by chance). The device is told 503 and polls again. Without help, its code is then
 * "already used" and the replay rule revokes the tokens it never received. The process that
 * made them keeps its answer briefly and hands it over once, only when exactly those tokens
 * were stored. The lost acknowledgement cannot be produced on demand with a real database, so
 * the real store is wrapped: its exchange runs for real, then reports the connection lost.
 */
import { expect } from 'chai';
import { tokenKey } from '../../src/helpers/secrets';
import { StoreUnavailable, type Store } from '../../src/storage/store';
import { alteredStore } from '../support/altered-store';
import { forEachDatabase } from '../support/databases';
import { makeUser, startServer, type RunningServer } from '../support/server';
import { flowRow, poll, startFlow } from '../activation/flow';

/** The exchange's writes: the combined poll and exchange, and the exchange alone (stores without it). */
const EXCHANGES = new Set<PropertyKey>(['exchange', 'recordPollAndExchange']);

/**
 * The real store; its exchange can be made to lose its acknowledgement (after or instead of the
 * commit). `combined` false hides recordPollAndExchange, as a store without it would have.
 */
function storeLosingAcknowledgements(real: Store, combined: boolean) {
  const mode: { next: 'none' | 'after-commit' | 'before-commit' } = { next: 'none' };
  const store = alteredStore(real, (key, member) => {
    if (key === 'recordPollAndExchange' && !combined) return undefined;
    if (!EXCHANGES.has(key) || typeof member !== 'function') return member;
    return async (...args: unknown[]) => {
      const lose = mode.next;
      mode.next = 'none';
      if (lose === 'before-commit') throw new StoreUnavailable(new Error('Connection lost: The server closed the connection.'));
      const committed: unknown = await (member as (...a: unknown[]) => Promise<unknown>)(...args);
      if (lose === 'after-commit') throw new StoreUnavailable(new Error('Connection lost: The server closed the connection.'));
      return committed;
    };
  });
  return { store, mode };
}

for (const combined of [true, false]) {
  forEachDatabase(`token endpoint: an exchange whose commit was not acknowledged (${combined ? 'the poll and the exchange in one write' : 'a store without recordPollAndExchange'})`, (db) => {
    let server: RunningServer;
    let wrapped: ReturnType<typeof storeLosingAcknowledgements>;
    before(async () => {
      wrapped = storeLosingAcknowledgements(db.store, combined);
      server = await startServer(wrapped.store);
    });
    after(async () => server.close());

    async function approvedFlow() {
      const flow = await startFlow(server, db.store);
      const user = await makeUser(db.store);
      const row = await flowRow(db, flow);
      expect(await db.store.decide(String(row.id), 'approved', user.id, server.clock.now())).to.equal(true);
      return flow;
    }

    it('committed but unacknowledged: 503, then the next poll gets exactly the stored tokens, once; a later poll is a replay', async () => {
      const flow = await approvedFlow();
      wrapped.mode.next = 'after-commit';
      const lost = await poll(server, flow);
      expect(lost.status, lost.text).to.equal(503);
      expect(lost.json.error).to.equal('temporarily_unavailable');

      const retried = await poll(server, flow);
      expect(retried.status, retried.text).to.equal(200);
      const row = await flowRow(db, flow);
      const stored = await db.knex('access_tokens').where({ device_authorization_id: row.id });
      expect(stored.map((t: { token_hash: string }) => t.token_hash), 'the token handed over is the one stored').to.deep.equal([tokenKey(retried.json.access_token)]);
      expect(retried.json.expires_in).to.be.within(1, 3600);
      expect((await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${retried.json.access_token}` } })).status).to.equal(200);

      const replay = await poll(server, flow);
      expect(replay.status).to.equal(400);
      expect(replay.json.error, 'RFC 6749 §4.1.2: a second use is refused').to.equal('invalid_grant');
      expect((await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${retried.json.access_token}` } })).status, 'and revokes').to.equal(401);
    });

    it('not committed: 503, then the next poll exchanges the still-approved code normally', async () => {
      const flow = await approvedFlow();
      wrapped.mode.next = 'before-commit';
      expect((await poll(server, flow)).status).to.equal(503);
      expect((await flowRow(db, flow)).status).to.equal('approved');
      const retried = await poll(server, flow);
      expect(retried.status, retried.text).to.equal(200);
      expect((await db.knex('access_tokens').where({ token_hash: tokenKey(retried.json.access_token) })).length).to.equal(1);
    });

    it('another process (no kept answer) applies the replay rule: invalid_grant and revocation', async () => {
      const flow = await approvedFlow();
      wrapped.mode.next = 'after-commit';
      expect((await poll(server, flow)).status).to.equal(503);
      const other = await startServer(db.store);
      try {
        other.clock.ms = server.clock.ms;
        const reply = await poll(other, flow);
        expect(reply.status).to.equal(400);
        expect(reply.json.error).to.equal('invalid_grant');
      } finally {
        await other.close();
      }
      const row = await flowRow(db, flow);
      expect(row.revoked_at, 'the grant is revoked').to.not.equal(null);
    });
  });
}
