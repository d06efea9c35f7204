/**
 * The store's hot paths (prepared statements on SQLite, the one-statement poll on MySQL) keep
 * every rule of the storage contract: one accepted poll per interval, slow_down adding 5 s
 * that is stored and reported exactly under concurrent polls, nothing written inside someone
 * else's transaction, and lookups that use their unique indexes on both databases.
 */
import { expect } from 'chai';
import type { Knex } from 'knex';
import { JOINED_LOOKUPS, RECORD_COLUMNS, RECORD_PENDING_POLL_IN_ONE_STATEMENT, SLOW_DOWN_STEP_SECONDS, SQLITE_JOINED_LOOKUPS, SQLITE_JOINED_PARAMS } from '../../src/storage/knex-store';
import { KnexStore } from '../../src/storage/knex-store';
import { openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { findAccessTokenWithOwners, findClientAndAccessToken, findClientAndDeviceAuthorization } from '../../src/storage/combined-reads';
import { UNIQUE_LOOKUPS } from '../../src/storage/sqlite-hot-paths';
import { DuplicateUserCode } from '../../src/storage/store';
import { DEVICE_CODE_GRANT } from '../../src/actions/grants/device-code';
import { forEachDatabase } from '../support/databases';

let counter = 0;

async function pendingFlow(store: KnexStore, now: number, pollInterval = 5, clientId = 'hot-client'): Promise<string> {
  const id = `hot-${++counter}-${now}`;
  await store.createDeviceAuthorization({
    id,
    deviceCodeHash: `dc${id}`.padEnd(64, '0'),
    userCodeHash: `uc${id}`.padEnd(64, '0'),
    clientId,
    scopes: ['profile'],
    createdAt: now,
    expiresAt: now + 600_000,
    pollInterval,
    requestIp: null,
    userAgent: null,
  });
  return id;
}

/**
 * Opens a transaction that changes the flow's scope, starts `during` while it is open, lets it
 * run (or wait) for 50 ms, then rolls the transaction back; returns both outcomes.
 */
async function whileTransactionChangesScope<T>(knex: Knex, id: string, during: () => Promise<T>): Promise<{ outcome: T; rolledBack: string }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const transaction = knex
    .transaction(async (trx) => {
      await trx('device_authorizations').where({ id }).update({ scope: 'changed' });
      entered();
      await held;
      throw new Error('rolled back on purpose');
    })
    .catch((err: Error) => err.message);
  await inside;
  const pending = during();
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  const rolledBack = await transaction;
  return { outcome: await pending, rolledBack };
}

forEachDatabase('store hot paths', (db) => {
  const now = 1_800_000_000_000;

  before(async () => {
    await db.store.saveUser({ id: 'hot-user', username: 'hot-user', name: 'Hot', email: null, passwordHash: 'x', disabled: false }, now);
    await db.store.saveClient(
      { id: 'hot-client', name: 'Hot', type: 'public', secretHash: null, allowedScopes: ['profile'], defaultScopes: ['profile'], grantTypes: ['x'], canIntrospect: false, accessTokenLifetime: null, refreshTokenLifetime: null },
      now,
    );
  });

  it('RFC 8628 §3.5: of 40 concurrent polls one is accepted, each other is slow_down with its own +5 s, all stored', async () => {
    const id = await pendingFlow(db.store, now);
    // MySQL: two pools, as two processes would have; SQLite: the process's one connection.
    const other = db.kind === 'mysql' ? db.openAnother() : db.store;
    try {
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? other : db.store).recordPoll(id, now)));
      expect(outcomes.filter((o) => o.accepted)).to.have.length(1);
      const intervals = outcomes.flatMap((o) => (o.accepted ? [] : [o.interval])).sort((a, b) => a - b);
      expect(intervals).to.deep.equal(Array.from({ length: 39 }, (_, i) => 5 + SLOW_DOWN_STEP_SECONDS * (i + 1)));
      const row = await db.knex('device_authorizations').where({ id }).first();
      expect(Number(row.poll_interval)).to.equal(5 + 39 * SLOW_DOWN_STEP_SECONDS);
      expect(Number(row.last_polled_at)).to.equal(now);
    } finally {
      if (other !== db.store) await other.close();
    }
  });

  it('RFC 8628 §3.5: a poll once the interval has passed is accepted and moves last_polled_at; one too soon is not', async () => {
    const id = await pendingFlow(db.store, now, 5);
    expect(await db.store.recordPoll(id, now)).to.deep.equal({ accepted: true });
    expect(await db.store.recordPoll(id, now + 4_999)).to.deep.equal({ accepted: false, interval: 10 });
    expect(await db.store.recordPoll(id, now + 10_000)).to.deep.equal({ accepted: true });
    const row = await db.knex('device_authorizations').where({ id }).first();
    expect(Number(row.last_polled_at)).to.equal(now + 10_000);
    expect(Number(row.poll_interval)).to.equal(10);
  });

  it('a poll is never written inside a transaction that is open on the connection, so its rollback cannot undo it', async () => {
    const id = await pendingFlow(db.store, now);
    const { outcome: poll, rolledBack } = await whileTransactionChangesScope(db.knex, id, () => db.store.recordPoll(id, now));
    expect(rolledBack).to.equal('rolled back on purpose');
    expect(poll).to.deep.equal({ accepted: true });
    const row = await db.knex('device_authorizations').where({ id }).first();
    expect(row.scope).to.equal('profile');
    expect(Number(row.last_polled_at)).to.equal(now);
  });

  const newToken = (id: string, authorizationId: string) => ({
    id,
    tokenHash: `th-${id}`.padEnd(64, '0'),
    clientId: 'hot-client',
    userId: 'hot-user',
    scopes: ['profile'],
    deviceAuthorizationId: authorizationId,
    createdAt: now,
    expiresAt: now + 3600_000,
  });

  async function approvedFlow(): Promise<string> {
    const id = await pendingFlow(db.store, now);
    expect(await db.store.decide(id, 'approved', 'hot-user', now)).to.equal(true);
    return id;
  }

  it('single use: an exchange whose token cannot be stored (its id taken) is undone whole, the code stays approved, and the exchanges beside it in the same batch are stored', async () => {
    const taken = await approvedFlow();
    expect(await db.store.exchange(taken, newToken(`at-${taken}`, taken))).to.equal(true);
    const [failing, beside] = [await approvedFlow(), await approvedFlow()];
    const outcomes = await Promise.allSettled([
      db.store.exchange(failing, newToken(`at-${taken}`, failing), newToken(`rt-${failing}`, failing)),
      db.store.exchange(beside, newToken(`at-${beside}`, beside), newToken(`rt-${beside}`, beside)),
    ]);
    expect(outcomes[0].status).to.equal('rejected');
    expect(outcomes[1]).to.deep.equal({ status: 'fulfilled', value: true });
    expect((await db.knex('device_authorizations').where({ id: failing }).first()).status).to.equal('approved');
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: failing })).to.have.length(0);
    expect((await db.knex('device_authorizations').where({ id: beside }).first()).status).to.equal('consumed');
    expect(await db.knex('access_tokens').where({ device_authorization_id: beside })).to.have.length(1);
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: beside })).to.have.length(1);
    // Undone, not spent: the code can still be exchanged once.
    expect(await db.store.exchange(failing, newToken(`at2-${failing}`, failing))).to.equal(true);
    expect(await db.store.exchange(failing, newToken(`at3-${failing}`, failing))).to.equal(false);
  });

  it('an exchange is never written inside a transaction that is open on the connection, so its rollback cannot undo it', async () => {
    const id = await approvedFlow();
    const { outcome, rolledBack } = await whileTransactionChangesScope(db.knex, id, () => db.store.exchange(id, newToken(`at-${id}`, id)));
    expect(rolledBack).to.equal('rolled back on purpose');
    expect(outcome).to.equal(true);
    const row = await db.knex('device_authorizations').where({ id }).first();
    expect([row.scope, row.status]).to.deep.equal(['profile', 'consumed']);
    expect(await db.knex('access_tokens').where({ id: `at-${id}` })).to.have.length(1);
  });

  it('RFC 8628 §3.5 and single use: recordPollAndExchange exchanges on a due poll only; a poll too soon is slow_down +5 s and exchanges nothing', async () => {
    const id = await approvedFlow();
    expect(await db.store.recordPollAndExchange(id, now, newToken(`at-${id}`, id), newToken(`rt-${id}`, id))).to.deep.equal({ poll: { accepted: true }, exchanged: true });
    const row = await db.knex('device_authorizations').where({ id }).first();
    expect([row.status, Number(row.last_polled_at)]).to.deep.equal(['consumed', now]);
    expect(await db.knex('access_tokens').where({ device_authorization_id: id })).to.have.length(1);
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: id })).to.have.length(1);

    const early = await approvedFlow();
    expect(await db.store.recordPoll(early, now)).to.deep.equal({ accepted: true });
    expect(await db.store.recordPollAndExchange(early, now + 4_999, newToken(`at-${early}`, early))).to.deep.equal({ poll: { accepted: false, interval: 10 }, exchanged: false });
    expect((await db.knex('device_authorizations').where({ id: early }).first()).status).to.equal('approved');
    expect(await db.knex('access_tokens').where({ device_authorization_id: early })).to.have.length(0);

    // A due poll of a code consumed already is recorded, and exchanges nothing.
    expect(await db.store.recordPollAndExchange(id, now + 5_000, newToken(`at2-${id}`, id))).to.deep.equal({ poll: { accepted: true }, exchanged: false });
    expect(await db.knex('access_tokens').where({ device_authorization_id: id })).to.have.length(1);
  });

  it('single use: of 20 concurrent recordPollAndExchange calls on one approved code, one poll is accepted and one token stored', async () => {
    const id = await approvedFlow();
    const other = db.kind === 'mysql' ? db.openAnother() : db.store;
    try {
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : db.store).recordPollAndExchange(id, now, newToken(`at-${i}-${id}`, id))));
      expect(outcomes.filter((o) => o.poll.accepted)).to.have.length(1);
      expect(outcomes.filter((o) => o.exchanged)).to.have.length(1);
      expect(await db.knex('access_tokens').where({ device_authorization_id: id })).to.have.length(1);
    } finally {
      if (other !== db.store) await other.close();
    }
  });

  it('recordPollAndExchange is never written inside a transaction that is open on the connection, so its rollback cannot undo it', async () => {
    const id = await approvedFlow();
    const { outcome, rolledBack } = await whileTransactionChangesScope(db.knex, id, () => db.store.recordPollAndExchange(id, now, newToken(`at-${id}`, id)));
    expect(rolledBack).to.equal('rolled back on purpose');
    expect(outcome).to.deep.equal({ poll: { accepted: true }, exchanged: true });
    const row = await db.knex('device_authorizations').where({ id }).first();
    expect([row.scope, row.status, Number(row.last_polled_at)]).to.deep.equal(['profile', 'consumed', now]);
    expect(await db.knex('access_tokens').where({ id: `at-${id}` })).to.have.length(1);
  });

  it('recordPollAndExchange: an exchange whose token cannot be stored is undone whole, the poll stays recorded, and the code can still be exchanged once', async () => {
    const taken = await approvedFlow();
    expect(await db.store.exchange(taken, newToken(`at-${taken}`, taken))).to.equal(true);
    const id = await approvedFlow();
    await db.store.recordPollAndExchange(id, now, newToken(`at-${taken}`, id), newToken(`rt-${id}`, id)).then(
      () => expect.fail('an exchange with a taken access token id was stored'),
      () => undefined,
    );
    const row = await db.knex('device_authorizations').where({ id }).first();
    expect([row.status, Number(row.last_polled_at)]).to.deep.equal(['approved', now]);
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: id })).to.have.length(0);
    expect(await db.store.recordPollAndExchange(id, now + 5_000, newToken(`at2-${id}`, id))).to.deep.equal({ poll: { accepted: true }, exchanged: true });
  });

  it('refresh rotation: once only, and a rotation whose new token cannot be stored is undone whole (the old token stays usable)', async () => {
    const id = await approvedFlow();
    expect(await db.store.exchange(id, newToken(`at-${id}`, id), newToken(`rt-${id}`, id))).to.equal(true);
    const rotate = (n: string, accessId = `at-${n}-${id}`) => db.store.rotateRefreshToken(`rt-${id}`, now + 1, newToken(accessId, id), newToken(`rt-${n}-${id}`, id));
    await rotate('x', `at-${id}`).then(
      () => expect.fail('a rotation with a taken access token id was stored'),
      () => undefined,
    );
    expect((await db.knex('refresh_tokens').where({ id: `rt-${id}` }).first()).rotated_at).to.equal(null);
    expect(await db.knex('refresh_tokens').where({ id: `rt-x-${id}` })).to.have.length(0);
    const [first, second] = await Promise.all([rotate('a'), rotate('b')]);
    expect([first, second].filter(Boolean)).to.have.length(1);
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: id })).to.have.length(2);
  });

  it('a taken user code is DuplicateUserCode, and nothing is written', async () => {
    const id = await pendingFlow(db.store, now);
    const row = await db.knex('device_authorizations').where({ id }).first();
    const again = db.store.createDeviceAuthorization({
      id: `${id}-again`,
      deviceCodeHash: 'another'.padEnd(64, '1'),
      userCodeHash: row.user_code_hash,
      clientId: 'hot-client',
      scopes: ['profile'],
      createdAt: now,
      expiresAt: now + 600_000,
      pollInterval: 5,
      requestIp: '192.0.2.1',
      userAgent: 'tv',
    });
    await again.then(
      () => expect.fail('a second flow with the same user code was stored'),
      (err: unknown) => expect(err).to.be.instanceOf(DuplicateUserCode),
    );
    expect(await db.knex('device_authorizations').where({ id: `${id}-again` })).to.have.length(0);
  });

  it('a new flow is stored with every field it was given, pending and never polled', async () => {
    const id = `hot-new-${now}`;
    await db.store.createDeviceAuthorization({
      id,
      deviceCodeHash: 'new'.padEnd(64, '2'),
      userCodeHash: 'newuc'.padEnd(64, '2'),
      clientId: 'hot-client',
      scopes: ['profile', 'email'],
      createdAt: now,
      expiresAt: now + 600_000,
      pollInterval: 7,
      requestIp: '192.0.2.7',
      userAgent: 'tv/1',
    });
    const found = await db.store.findDeviceAuthorizationByDeviceCode('new'.padEnd(64, '2'));
    expect(found).to.deep.equal({
      id,
      deviceCodeHash: 'new'.padEnd(64, '2'),
      userCodeHash: 'newuc'.padEnd(64, '2'),
      clientId: 'hot-client',
      scopes: ['profile', 'email'],
      status: 'pending',
      userId: null,
      createdAt: now,
      expiresAt: now + 600_000,
      pollInterval: 7,
      lastPolledAt: null,
      decidedAt: null,
      requestIp: '192.0.2.7',
      userAgent: 'tv/1',
      revokedAt: null,
    });
  });

  it('the lookups of polls, token checks and introspection use their unique indexes (query plans)', async () => {
    // The store's own list of hot lookups, and the key of the poll's UPDATE.
    const lookups: [string, string][] = [...UNIQUE_LOOKUPS.map((l): [string, string] => [l.table, l.column]), ['device_authorizations', 'id']];
    expect(lookups).to.have.length(6);
    for (const [table, column] of lookups) {
      if (db.kind === 'sqlite') {
        const plan = (await db.knex.raw(`EXPLAIN QUERY PLAN SELECT * FROM ${table} WHERE ${column} = ?`, ['x'])) as { detail: string }[];
        const detail = plan.map((p) => p.detail).join('; ');
        expect(detail, `${table}.${column}`).to.match(/^SEARCH .* USING INDEX .*\(.*=\?\)$/);
      } else {
        const [plan] = (await db.knex.raw(`EXPLAIN SELECT * FROM ${table} WHERE ${column} = ?`, ['x'])) as [{ type: string; key: string | null; Extra: string }[]];
        const row = plan[0]!;
        // const: one row by a unique index; an absent value reads no table at all.
        expect(row.type === 'const' || /no matching row in const table|Impossible WHERE/i.test(row.Extra), `${table}.${column}: ${JSON.stringify(row)}`).to.equal(true);
      }
    }
  });

  it('the joined reads of polls, token checks and introspection use a unique index for every table they read (query plans)', async () => {
    expect(Object.keys(JOINED_LOOKUPS)).to.have.length(3);
    expect(Object.keys(SQLITE_JOINED_LOOKUPS)).to.deep.equal(Object.keys(JOINED_LOOKUPS));
    // Rows that exist: MySQL plans a lookup that finds nothing as "Impossible WHERE" and shows no join.
    const userId = `plan-user-${now}`;
    await db.store.saveUser({ id: userId, username: userId, name: 'Plan', email: null, passwordHash: 'x', disabled: false }, now);
    const id = await pendingFlow(db.store, now);
    await db.knex('device_authorizations').where({ id }).update({ status: 'approved', user_id: userId });
    const tokenHash = `plan${id}`.padEnd(64, '5');
    await db.store.exchange(id, { id: `plan-${id}`, tokenHash, clientId: 'hot-client', userId, scopes: ['profile'], deviceAuthorizationId: id, createdAt: now, expiresAt: now + 60_000 });
    const deviceCodeHash = (await db.knex('device_authorizations').where({ id }).first()).device_code_hash as string;
    const paramsOf: Record<keyof typeof JOINED_LOOKUPS, string[]> = {
      clientAndDeviceAuthorization: [deviceCodeHash, 'hot-client'],
      accessTokenWithOwners: [tokenHash],
      clientAndAccessTokenWithUser: [tokenHash, 'hot-client'],
    };
    if (db.kind === 'sqlite') {
      for (const [name, sql] of Object.entries(SQLITE_JOINED_LOOKUPS)) {
        const lookup = name as keyof typeof JOINED_LOOKUPS;
        const params = SQLITE_JOINED_PARAMS[lookup]?.map((i) => paramsOf[lookup][i]!) ?? paramsOf[lookup];
        const plan = (await db.knex.raw(`EXPLAIN QUERY PLAN ${sql}`, params)) as { detail: string }[];
        const reads = plan.map((p) => p.detail).filter((d) => /^(SEARCH|SCAN) /.test(d));
        // One read per table of the statement (the main one, each join's, each subquery's), each by a key.
        expect(reads, name).to.have.length(sql.match(/ (FROM|JOIN) /g)!.length);
        for (const read of reads) expect(read, name).to.match(/^SEARCH \w+ USING (INDEX \w+|PRIMARY KEY) \(\w+=\?\)$/);
      }
      return;
    }
    for (const [name, sql] of Object.entries(JOINED_LOOKUPS)) {
      const [plan] = (await db.knex.raw(`EXPLAIN ${sql}`, paramsOf[name as keyof typeof JOINED_LOOKUPS])) as [{ type: string | null }[]];
      expect(plan, name).to.have.length(sql.match(/ JOIN /g)!.length + 1);
      // const: one row by a primary or unique key; eq_ref: one row per joined row, by its key.
      for (const row of plan) expect(row.type === 'const' || row.type === 'eq_ref', `${name}: ${JSON.stringify(row)}`).to.equal(true);
    }
  });

  it('the columns read into records are every column of each hot table but the ones no record carries', async () => {
    // A migration that adds a column fails this until the column is read or listed here.
    const notRead: Record<string, string[]> = { clients: ['created_at'], users: ['created_at'], device_authorizations: ['expired_noted_at'] };
    for (const [table, columns] of Object.entries(RECORD_COLUMNS)) {
      const schema = Object.keys(await db.knex(table).columnInfo()).sort();
      expect([...columns, ...(notRead[table] ?? [])].sort(), table).to.deep.equal(schema);
    }
  });

  it('a record read on the hot path carries every value as stored: quotes, backslashes, control characters, emoji, large numbers, nulls', async () => {
    const odd = 'Zoë\'s "TV" \\ back\\slash\n\ttab \u0001 😀 </script>';
    await db.store.saveClient(
      { id: 'hot-odd', name: odd, type: 'confidential', secretHash: 'f'.repeat(64), allowedScopes: ['profile', 'é'], defaultScopes: [], grantTypes: ['x'], canIntrospect: true, accessTokenLifetime: 2_000_000_000, refreshTokenLifetime: 1 },
      now,
    );
    const id = await pendingFlow(db.store, now);
    await db.knex('device_authorizations').where({ id }).update({ client_id: 'hot-odd', user_agent: odd, request_ip: '::1', last_polled_at: now + 1, decided_at: now + 2, revoked_at: now + 3 });
    const built = await db.knex('device_authorizations').where({ id }).first();
    const read = await db.store.findClientAndDeviceAuthorization('hot-odd', built.device_code_hash as string);
    expect(read.client).to.deep.include({ name: odd, type: 'confidential', secretHash: 'f'.repeat(64), allowedScopes: ['profile', 'é'], defaultScopes: [], canIntrospect: true, accessTokenLifetime: 2_000_000_000, refreshTokenLifetime: 1 });
    expect(read.authorization).to.deep.include({ id, userAgent: odd, requestIp: '::1', lastPolledAt: now + 1, decidedAt: now + 2, revokedAt: now + 3, expiresAt: now + 600_000, pollInterval: 5, userId: null });
    const builtClient = await db.knex('clients').where({ id: 'hot-odd' }).first();
    expect(builtClient.name).to.equal(odd);
  });

  if (db.kind === 'mysql') it('MySQL: a poll runs its read and its write as statements prepared once per connection, without the text protocol', async () => {
    // One connection, so the second poll must find the statements the first one prepared.
    const single = new KnexStore(openDatabase(parseDatabaseUrl(db.url), { poolSize: 1 }));
    // Com_stmt_execute counts executions of prepared statements only: a text-protocol query
    // (knex.raw, connection.query) does not move it.
    const status = async (): Promise<Record<string, number>> => {
      const [rows] = (await db.knex.raw("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute')")) as [{ Variable_name: string; Value: string }[]];
      return Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
    };
    const poll = async (id: string, hash: string, at: number) => {
      const read = await single.findClientAndDeviceAuthorization('hot-client', hash);
      expect(read.authorization?.id).to.equal(id);
      return single.recordPoll(id, at);
    };
    try {
      const id = await pendingFlow(db.store, now, 5);
      const hash = (await db.knex('device_authorizations').where({ id }).first()).device_code_hash as string;
      expect(await poll(id, hash, now)).to.deep.equal({ accepted: true });
      // SHOW STATUS is itself a text-protocol statement, so it does not move these.
      const before = await status();
      expect(await poll(id, hash, now + 1000)).to.deep.equal({ accepted: false, interval: 5 + SLOW_DOWN_STEP_SECONDS });
      const after = await status();
      expect(after.Com_stmt_execute! - before.Com_stmt_execute!, 'executions').to.equal(2);
      expect(after.Com_stmt_prepare! - before.Com_stmt_prepare!, 'preparations').to.equal(0);
    } finally {
      await single.close();
    }
  });

  if (db.kind === 'mysql') describe('MySQL: the poll of a pending code in one statement (recordPendingPoll)', () => {
    const client = (id: string, type: 'public' | 'confidential', grantTypes: string[]) =>
      db.store.saveClient({ id, name: id, type, secretHash: type === 'public' ? null : 'f'.repeat(64), allowedScopes: ['profile'], defaultScopes: ['profile'], grantTypes, canIntrospect: false, accessTokenLifetime: null, refreshTokenLifetime: null }, now);
    const hashOf = async (id: string) => (await db.knex('device_authorizations').where({ id }).first()).device_code_hash as string;
    const poll = (clientId: string, hash: string, at: number) => db.store.recordPendingPoll!(clientId, DEVICE_CODE_GRANT, hash, at);

    before(async () => {
      await client('quick-public', 'public', ['refresh_token', DEVICE_CODE_GRANT]);
      await client('quick-confidential', 'confidential', [DEVICE_CODE_GRANT]);
      await client('quick-no-grant', 'public', ['refresh_token']);
      await client('quick-upper-case', 'public', [DEVICE_CODE_GRANT.toUpperCase()]);
      await client('quick-longer-word', 'public', [`${DEVICE_CODE_GRANT}x`, `x${DEVICE_CODE_GRANT}`]);
      await db.store.saveUser({ id: 'quick-user', username: 'quick-user', name: 'Quick', email: null, passwordHash: 'x', disabled: false }, now);
    });

    it('RFC 8628 §3.5: it records a due poll and answers slow_down +5 s to one too soon, as recordPoll does, in one prepared execution', async () => {
      const id = await pendingFlow(db.store, now, 5, 'quick-public');
      const hash = await hashOf(id);
      expect(await poll('quick-public', hash, now)).to.deep.equal({ accepted: true });
      const executions = async () => Number(((await db.knex.raw("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'")) as [{ Value: string }[]])[0][0]!.Value);
      const before = await executions();
      expect(await poll('quick-public', hash, now + 4_999)).to.deep.equal({ accepted: false, interval: 10 });
      expect((await executions()) - before, 'statements executed').to.equal(1);
      expect(await poll('quick-public', hash, now + 15_000)).to.deep.equal({ accepted: true });
      const row = await db.knex('device_authorizations').where({ id }).first();
      expect(Number(row.last_polled_at)).to.equal(now + 15_000);
      expect(Number(row.poll_interval)).to.equal(10);
    });

    it('it reads the code by its unique index and the client by its key (query plan)', async () => {
      const id = await pendingFlow(db.store, now, 5, 'quick-public');
      const params = [now, SLOW_DOWN_STEP_SECONDS, now, now, await hashOf(id), now, 'quick-public', ` ${DEVICE_CODE_GRANT} `];
      const [plan] = (await db.knex.raw(`EXPLAIN ${RECORD_PENDING_POLL_IN_ONE_STATEMENT}`, params)) as [Record<string, unknown>[]];
      // An UPDATE reads its one row as a range of the unique index; the client subquery by its primary key.
      expect(plan.map((row) => [row.table, row.type, row.key])).to.deep.equal([
        ['device_authorizations', 'range', 'device_authorizations_device_code_hash_unique'],
        ['clients', 'const', 'PRIMARY'],
      ]);
    });

    it('RFC 8628 §3.5: of 40 concurrent one-statement polls one is accepted, each other is slow_down with its own +5 s', async () => {
      const id = await pendingFlow(db.store, now, 5, 'quick-public');
      const hash = await hashOf(id);
      const other = db.openAnother();
      try {
        const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? other : db.store).recordPendingPoll!('quick-public', DEVICE_CODE_GRANT, hash, now)));
        expect(outcomes.filter((o) => o?.accepted)).to.have.length(1);
        const intervals = outcomes.flatMap((o) => (o && !o.accepted ? [o.interval] : [])).sort((a, b) => a - b);
        expect(intervals).to.deep.equal(Array.from({ length: 39 }, (_, i) => 5 + SLOW_DOWN_STEP_SECONDS * (i + 1)));
      } finally {
        await other.close();
      }
    });

    it('RFC 6749 §2.3, §5.2 and RFC 8628 §3.5: unless the public client exists, may use the grant, owns the code and it is pending and unexpired, it writes nothing and answers undefined', async () => {
      const flow = async (clientId = 'quick-public') => {
        const id = await pendingFlow(db.store, now, 5, clientId);
        return { id, hash: await hashOf(id) };
      };
      const own = await flow();
      const approved = await flow();
      expect(await db.store.decide(approved.id, 'approved', 'quick-user', now)).to.equal(true);
      const denied = await flow();
      expect(await db.store.decide(denied.id, 'denied', 'quick-user', now)).to.equal(true);
      const consumed = await flow();
      await db.knex('device_authorizations').where({ id: consumed.id }).update({ status: 'consumed' });
      const cases: [string, string, { id: string; hash: string } | undefined, number][] = [
        ['unknown code', 'quick-public', undefined, now],
        ["another client's code", 'quick-no-grant', own, now],
        ['unknown client', 'no-such-client', own, now],
        ['confidential client (must authenticate)', 'quick-confidential', await flow('quick-confidential'), now],
        ['client without the device code grant', 'quick-no-grant', await flow('quick-no-grant'), now],
        ['grant type in another case', 'quick-upper-case', await flow('quick-upper-case'), now],
        ['grant type only inside a longer word', 'quick-longer-word', await flow('quick-longer-word'), now],
        ['expired code', 'quick-public', own, now + 600_000],
        ['approved code', 'quick-public', approved, now],
        ['denied code', 'quick-public', denied, now],
        ['consumed code', 'quick-public', consumed, now],
      ];
      for (const [label, clientId, target, at] of cases) {
        const rowBefore = target && (await db.knex('device_authorizations').where({ id: target.id }).first());
        expect(await poll(clientId, target?.hash ?? 'unknown'.padEnd(64, '7'), at), label).to.equal(undefined);
        if (target) expect(await db.knex('device_authorizations').where({ id: target.id }).first(), label).to.deep.equal(rowBefore);
      }
      expect(await poll('quick-public', own.hash, now), 'the same code, every check holding').to.deep.equal({ accepted: true });
    });
  });

  if (db.kind === 'sqlite') it('SQLite keeps the general poll (read, then write): its statements run in-process, with no round trip to save', () => {
    expect(db.store.recordPendingPoll).to.equal(undefined);
  });

  it('a combined read of client and device code answers what the two lookups answer (own code, another client\'s, unknown, unknown client)', async () => {
    await db.store.saveClient(
      { id: 'hot-other', name: 'Other', type: 'public', secretHash: null, allowedScopes: ['profile'], defaultScopes: ['profile'], grantTypes: ['x'], canIntrospect: false, accessTokenLifetime: 60, refreshTokenLifetime: null },
      now,
    );
    const id = await pendingFlow(db.store, now);
    const own = (await db.knex('device_authorizations').where({ id }).first()).device_code_hash as string;
    const cases: [string, string][] = [
      ['hot-client', own],
      ['hot-other', own],
      ['hot-client', 'unknown'.padEnd(64, '9')],
      ['no-such-client', own],
    ];
    for (const [clientId, hash] of cases) {
      const combined = await db.store.findClientAndDeviceAuthorization(clientId, hash);
      const client = await db.store.findClient(clientId);
      const expected = { client, authorization: client && (await db.store.findDeviceAuthorizationByDeviceCode(hash)) };
      expect(combined, `${clientId} ${hash}`).to.deep.equal(expected);
      // A store without the combined read (the fallback: two lookups) answers the same.
      const plain = { findClient: (c: string) => db.store.findClient(c), findDeviceAuthorizationByDeviceCode: (h: string) => db.store.findDeviceAuthorizationByDeviceCode(h) };
      expect(await findClientAndDeviceAuthorization(plain as never, clientId, hash)).to.deep.equal(expected);
    }
    expect((await db.store.findClientAndDeviceAuthorization('hot-other', own)).authorization?.clientId).to.equal('hot-client');
  });

  it('a combined read of an access token brings its user and client, and nothing for an unknown token', async () => {
    const userId = `hot-user-${now}`;
    await db.store.saveUser({ id: userId, username: userId, name: 'Hot User', email: null, passwordHash: 'x', disabled: false }, now);
    const id = await pendingFlow(db.store, now);
    await db.knex('device_authorizations').where({ id }).update({ status: 'approved', user_id: userId });
    const tokenHash = `at${id}`.padEnd(64, '3');
    const token = { id: `at-${id}`, tokenHash, clientId: 'hot-client', userId, scopes: ['profile'], deviceAuthorizationId: id, createdAt: now, expiresAt: now + 60_000 };
    expect(await db.store.exchange(id, token)).to.equal(true);
    const found = await db.store.findAccessTokenWithOwners(tokenHash);
    expect(found).to.deep.equal({
      token: await db.store.findAccessToken(tokenHash),
      user: await db.store.findUserById(userId),
      client: await db.store.findClient('hot-client'),
    });
    expect(found!.token.id).to.equal(`at-${id}`);
    expect(await db.store.findAccessTokenWithOwners('unknown'.padEnd(64, '4'))).to.equal(undefined);
    // The fallback (a store without the combined read) answers the same.
    const plain = {
      findAccessToken: (h: string) => db.store.findAccessToken(h),
      findUserById: (u: string) => db.store.findUserById(u),
      findClient: (c: string) => db.store.findClient(c),
    };
    expect(await findAccessTokenWithOwners(plain as never, tokenHash)).to.deep.equal(found);
    expect(await findAccessTokenWithOwners(plain as never, 'unknown'.padEnd(64, '4'))).to.equal(undefined);
  });

  it('RFC 7662 §2.1: a combined read of an introspecting client and a token answers what the lookups answer (any client\'s token, unknown token, unknown client), in a transaction too', async () => {
    const userId = `hot-introspected-${now}`;
    await db.store.saveUser({ id: userId, username: userId, name: 'Introspected', email: null, passwordHash: 'x', disabled: false }, now);
    await db.store.saveClient(
      { id: 'hot-rs', name: 'Resource server', type: 'confidential', secretHash: 'e'.repeat(64), allowedScopes: [], defaultScopes: [], grantTypes: [], canIntrospect: true, accessTokenLifetime: null, refreshTokenLifetime: null },
      now,
    );
    const id = await pendingFlow(db.store, now);
    await db.knex('device_authorizations').where({ id }).update({ status: 'approved', user_id: userId });
    const tokenHash = `in${id}`.padEnd(64, '6');
    expect(await db.store.exchange(id, { id: `in-${id}`, tokenHash, clientId: 'hot-client', userId, scopes: ['profile'], deviceAuthorizationId: id, createdAt: now, expiresAt: now + 60_000 })).to.equal(true);
    const unknown = 'unknown'.padEnd(64, '7');
    const plain = {
      findClient: (c: string) => db.store.findClient(c),
      findAccessToken: (h: string) => db.store.findAccessToken(h),
      findUserById: (u: string) => db.store.findUserById(u),
    };
    for (const [clientId, hash] of [['hot-rs', tokenHash], ['hot-client', tokenHash], ['hot-rs', unknown], ['no-such-client', tokenHash]] as const) {
      const client = await db.store.findClient(clientId);
      const token = client && (await db.store.findAccessToken(hash));
      const expected = { client, accessToken: token && { token, user: await db.store.findUserById(token.userId) } };
      expect(await db.store.findClientAndAccessToken(clientId, hash), `${clientId} ${hash}`).to.deep.equal(expected);
      // A store without the combined read (the fallback: separate lookups) answers the same.
      expect(await findClientAndAccessToken(plain as never, clientId, hash), `fallback ${clientId} ${hash}`).to.deep.equal(expected);
    }
    expect((await db.store.findClientAndAccessToken('hot-rs', tokenHash)).accessToken?.user?.id).to.equal(userId);
    // While a transaction holds SQLite's connection the same rows come through Knex.
    const { outcome: read } = await whileTransactionChangesScope(db.knex, id, () => db.store.findClientAndAccessToken('hot-rs', tokenHash));
    expect(read.client?.id).to.equal('hot-rs');
    expect(read.accessToken?.token.id).to.equal(`in-${id}`);
    expect(read.accessToken?.user?.id).to.equal(userId);
  });

  it('a combined read while a transaction holds the SQLite connection waits for it and reads the committed rows', async () => {
    const id = await pendingFlow(db.store, now);
    const hash = (await db.knex('device_authorizations').where({ id }).first()).device_code_hash as string;
    const { outcome: read, rolledBack } = await whileTransactionChangesScope(db.knex, id, () => db.store.findClientAndDeviceAuthorization('hot-client', hash));
    expect(rolledBack).to.equal('rolled back on purpose');
    const { client, authorization } = read;
    expect(client?.id).to.equal('hot-client');
    expect(authorization?.id).to.equal(id);
    expect(authorization?.scopes).to.deep.equal(['profile']);
  });
});
