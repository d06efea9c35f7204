/**
 * Robustness under faults: the database going away and coming back under load, the server
 * killed with SIGKILL in the middle of flows, a SIGTERM that drains requests in flight, and
 * transactions that fail between their writes. Real processes, real databases, real HTTP on
 * 127.0.0.1; the faults are real too (a mariadbd stopped with a signal, a process group killed,
 * a database trigger that refuses a write). Nothing is mocked.
 *
 * Figures (test-output/robustness.json): outageSecondsSurvived, outageRequests503,
 * flowsResumedAfterSigkill, halfStatesFound.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { registerClient, registerUser } from '../../src/accounts';
import { deviceCodeKey, tokenKey } from '../../src/helpers/secrets';
import { migrateToLatest, openDatabase, parseDatabaseUrl, type Dialect } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';
import { checkContract } from '../support/contract';
import { databaseKinds, forEachDatabase, TestDatabase } from '../support/databases';
import { BrowserSession, request, type Reply } from '../support/http';
import { freePort, serverEnv, ServerProcess } from '../support/process';
import { waitUntil } from '../support/wait';
import { addFigure } from '../support/robustness';
import { DEVICE_GRANT, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { Lifecycle, REFRESH_GRANT, type Approval, type DeviceClient } from '../tokens/lifecycle';
import { MariaDbInstance, mariadbAvailable, timedRequest, TimedBrowser, type TimedReply } from './faults-support';

const SECRET_KEYS = 'faults-test-key-0123456789abcdefghijklmnopqrstuvwxyz';
/** The last line of the banner: the server listens. */
const LISTENING = /^\s+activate:\s+\S+\/activate\s*$/m;
/** No request may take longer than this, database or no database. */
const ANSWER_BOUND_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** Whether a TCP connection to the port is refused (nothing listens). */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      ok(false);
    }, 3000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      ok(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      ok(err.code === 'ECONNREFUSED');
    });
  });
}

/** A server process on `databaseUrl`, in its own temporary working directory. */
function startServerProcess(cwd: string, port: number, databaseUrl: string): ServerProcess {
  return new ServerProcess(
    cwd,
    serverEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      OAUTH2_SECRET_KEYS: SECRET_KEYS,
      // The shortest interval the server accepts, so the load can poll without long waits.
      OAUTH2_POLL_INTERVAL: '1',
    }),
  );
}

async function stopServerProcess(child: ServerProcess | undefined): Promise<void> {
  if (!child || child.exit) return;
  child.forceKill();
  await child.waitForExit(10_000).catch(() => undefined);
}

/** Contract violations among replies that came (status 0 means no answer at all). */
async function contractViolations(replies: TimedReply[]): Promise<string[]> {
  const violations: string[] = [];
  for (const r of replies) {
    if (r.status === 0) continue;
    try {
      await checkContract({ method: r.method, path: r.path, status: r.status, headers: r.headers, text: r.text });
    } catch (err) {
      violations.push((err as Error).message.split('\n')[0]!);
    }
  }
  return [...new Set(violations)];
}

describe('robustness: database faults, kills and transactions', function () {
  this.timeout(180_000);

  // ---------------------------------------------------------------------------------------
  // 1. A MariaDB outage under load.
  // ---------------------------------------------------------------------------------------
  describe('a MariaDB outage under load (a private mariadbd, stopped and started again)', () => {
    const WORKERS = 4;
    /** Approvals made before the outage and exchanged only after it. */
    const HELD = 6;
    const DOWN_MS = 6_000;

    let db: MariaDbInstance | undefined;
    let knex: Knex | undefined;
    let store: KnexStore;
    let cwd: string | undefined;
    let server: ServerProcess | undefined;
    let url: string;

    before(async function () {
      if (!mariadbAvailable()) {
        // In CI the MariaDB binaries are installed by .ci/run: missing them there is a failure.
        if (process.env.CI) throw new Error('mariadb-install-db and mariadbd are needed for the outage tests');
        this.skip();
      }
      this.timeout(120_000);
      db = new MariaDbInstance();
      await db.init();
      knex = openDatabase(parseDatabaseUrl(db.url));
      await migrateToLatest(knex);
      store = new KnexStore(knex);
      cwd = mkdtempSync(join(tmpdir(), 'o2d-outage-'));
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      server = startServerProcess(cwd, port, db.url);
      await server.waitForOutput(LISTENING);
    });

    after(async () => {
      await stopServerProcess(server);
      await knex?.destroy().catch(() => undefined);
      await db?.destroy();
      if (cwd) rmSync(cwd, { recursive: true, force: true });
    });

    interface LoadFlow {
      owner: number;
      deviceCode: string;
      userCode: string;
      /** approved: the result page said so; unknown: the decision got no answer; none: not decided. */
      approval: 'approved' | 'unknown' | 'none';
      approvedBeforeOutage: boolean;
      held: boolean;
      accessTokens: string[];
      refreshTokens: string[];
      interval: number;
      nextPollAt: number;
      done: boolean;
      /** An answer a flow should never get (e.g. invalid_grant for a code never exchanged). */
      failure?: string;
    }

    async function runOutage(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
      if (!db!.running) await db!.start(); // an earlier test failed while it was down
      knex ??= openDatabase(parseDatabaseUrl(db!.url));
      store = new KnexStore(knex);
      const tag = `${signal.toLowerCase()}-${process.pid}`;
      const { client } = await registerClient(store, {
        id: `outage-tv-${tag}`,
        name: 'Outage TV',
        type: 'public',
        allowedScopes: ['profile'],
        grantTypes: [DEVICE_GRANT, REFRESH_GRANT],
      });
      const browsers: TimedBrowser[] = [];
      for (let i = 0; i <= WORKERS; i++) {
        const user = await registerUser(store, { username: `outage-${tag}-${i}`, password: TEST_PASSWORD, name: `Outage ${i}` });
        const browser = new TimedBrowser(url, ANSWER_BOUND_MS);
        expect(await browser.signIn(user.username, TEST_PASSWORD), 'sign-in before the outage').to.equal(true);
        browsers.push(browser);
      }

      const replies: TimedReply[] = [];
      const record = (reply: TimedReply): TimedReply => (replies.push(reply), reply);
      const flows: LoadFlow[] = [];
      const phase = { downAt: Infinity, downConfirmedAt: Infinity, restartAt: Infinity, upAt: Infinity };

      const newFlow = (owner: number, reply: TimedReply): LoadFlow => {
        const flow: LoadFlow = {
          owner,
          deviceCode: reply.json.device_code,
          userCode: reply.json.user_code,
          approval: 'none',
          approvedBeforeOutage: false,
          held: false,
          accessTokens: [],
          refreshTokens: [],
          interval: reply.json.interval,
          nextPollAt: 0,
          done: false,
        };
        flows.push(flow);
        return flow;
      };
      const approve = async (owner: number, flow: LoadFlow): Promise<void> => {
        const browser = browsers[owner]!;
        const outcome = await browser.approve(flow.userCode);
        replies.push(...browser.replies.splice(0));
        flow.approval = outcome === 'failed' ? 'none' : outcome;
        flow.approvedBeforeOutage = outcome === 'approved' && Date.now() < phase.downAt;
      };
      const poll = async (flow: LoadFlow): Promise<void> => {
        const reply = record(
          await timedRequest(url, 'POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: flow.deviceCode } }, ANSWER_BOUND_MS),
        );
        const error = reply.json?.error;
        if (reply.status === 200) {
          flow.accessTokens.push(reply.json.access_token);
          if (reply.json.refresh_token) flow.refreshTokens.push(reply.json.refresh_token);
          flow.done = true;
        } else if (reply.status === 400 && error === 'slow_down') {
          flow.interval = reply.json.interval; // a poll was recorded just before the database went
        } else if (reply.status === 400 && error === 'authorization_pending') {
          // Only an unanswered decision gets here: it did not land, nobody approved.
          flow.approval = 'none';
          flow.done = true;
        } else if (reply.status < 500) {
          // 5xx: retried, as a device does; which 5xx were acceptable is checked below.
          flow.failure = `${reply.status} ${reply.text.slice(0, 200)}`;
          flow.done = true;
        }
        flow.nextPollAt = Date.now() + flow.interval * 1000 + 50;
      };
      const due = (flow: LoadFlow) => !flow.done && flow.approval !== 'none' && Date.now() >= flow.nextPollAt;

      // Approvals made before the outage that the devices will only collect after it.
      const holder = WORKERS;
      for (let i = 0; i < HELD; i++) {
        const reply = record(await timedRequest(url, 'POST', '/oauth/device_authorization', { form: { client_id: client.id } }, ANSWER_BOUND_MS));
        expect(reply.status, reply.text).to.equal(200);
        const flow = newFlow(holder, reply);
        flow.held = true;
        await approve(holder, flow);
        expect(flow.approval, 'a held approval before the outage').to.equal('approved');
      }

      // The load: each worker starts a flow, approves it in its browser, and polls its flows.
      let stopLoad = false;
      const loadDeadline = Date.now() + 90_000;
      const worker = async (owner: number): Promise<void> => {
        while (!stopLoad && Date.now() < loadDeadline) {
          const reply = record(await timedRequest(url, 'POST', '/oauth/device_authorization', { form: { client_id: client.id } }, ANSWER_BOUND_MS));
          if (reply.status === 200) {
            await approve(owner, newFlow(owner, reply));
          } else {
            // The person's side too: the activation page needs the session from the database.
            await browsers[owner]!.send('GET', '/activate');
            replies.push(...browsers[owner]!.replies.splice(0));
          }
          for (const flow of flows.filter((f) => f.owner === owner && due(f))) await poll(flow);
          await sleep(50);
        }
      };
      // The test's own pool is closed while mariadbd is stopped; the rows are read afterwards.
      await knex!.destroy();
      knex = undefined;
      const load = Promise.all(browsers.slice(0, WORKERS).map((_, owner) => worker(owner)));
      const serverAlive: boolean[] = [];
      try {
        await sleep(2_000);
        phase.downAt = Date.now();
        await db!.stop(signal);
        phase.downConfirmedAt = Date.now();
        for (let waited = 0; waited < DOWN_MS; waited += 500) {
          serverAlive.push(server!.exit === undefined);
          await sleep(500);
        }
        phase.restartAt = Date.now();
        await db!.start();
        phase.upAt = Date.now();
        // It recovers by itself: no restart of the server, just the next requests.
        await waitUntil(
          () => replies.some((r) => r.startedAt >= phase.upAt && r.path === '/oauth/device_authorization' && r.status === 200),
          30_000,
          'a successful device authorization after mariadbd came back',
        );
        await waitUntil(
          () => replies.some((r) => r.startedAt >= phase.upAt && r.path === '/oauth/token' && r.status === 200),
          30_000,
          'a successful token exchange after mariadbd came back',
        );
        await sleep(1_000);
      } finally {
        stopLoad = true;
        await load;
      }

      // The approvals held over the outage are still there, approved and not yet exchanged.
      knex = openDatabase(parseDatabaseUrl(db!.url));
      store = new KnexStore(knex);
      const heldFlows = flows.filter((f) => f.held);
      const heldRows = await knex('device_authorizations').whereIn('device_code_hash', heldFlows.map((f) => deviceCodeKey(f.deviceCode)));
      expect(heldRows.map((row: Record<string, unknown>) => [row.status, row.revoked_at])).to.deep.equal(heldFlows.map(() => ['approved', null]));

      // Every device collects what it was approved for, the held approvals included.
      const drainDeadline = Date.now() + 60_000;
      while (flows.some((f) => !f.done && f.approval !== 'none') && Date.now() < drainDeadline) {
        for (const flow of flows.filter(due)) await poll(flow);
        await sleep(100);
      }
      serverAlive.push(server!.exit === undefined);

      // --- the answers ---
      // A token request whose transaction is cut by the database dying gets 503 too: the error
      // of knex's ROLLBACK on the dead connection is fatal, and fatal errors mean unavailable.
      const checked = replies;
      const during = replies.filter((r) => r.startedAt >= phase.downConfirmedAt && r.endedAt <= phase.restartAt);
      const count503 = replies.filter((r) => r.status === 503).length;
      const downSeconds = Math.round((phase.upAt - phase.downConfirmedAt) / 1000);
      addFigure('outageRequests503', count503);
      addFigure('outageSecondsSurvived', downSeconds);

      expect(serverAlive.every(Boolean), `the server process stayed up (exit: ${JSON.stringify(server!.exit)})\n${server!.stderr}`).to.equal(true);
      const unanswered = replies.filter((r) => r.error !== undefined || r.endedAt - r.startedAt > ANSWER_BOUND_MS);
      expect(unanswered.map((r) => `${r.method} ${r.path}: ${r.error ?? `${r.endedAt - r.startedAt} ms`}`), 'requests without an answer within the bound').to.deep.equal([]);
      expect(during.length, 'requests made while the database was down').to.be.at.least(20);
      expect(during.some((r) => r.path === '/oauth/device_authorization') && during.some((r) => r.path === '/activate'), 'API and page requests while down').to.equal(true);
      const wrongWhileDown = during.filter((r) => {
        if (r.status !== 503 || !/^\d+$/.test(r.headers.get('retry-after') ?? '')) return true;
        return r.path.startsWith('/oauth/') ? r.json?.error !== 'temporarily_unavailable' : !(r.headers.get('content-type') ?? '').startsWith('text/html');
      });
      expect(wrongWhileDown.map((r) => `${r.method} ${r.path} -> ${r.status} ${r.text.slice(0, 120)}`), 'answers while the database was down').to.deep.equal([]);
      const unexpected = checked.filter((r) => ![200, 303, 400, 503].includes(r.status));
      expect(unexpected.map((r) => `${r.method} ${r.path} -> ${r.status} ${r.text.slice(0, 200)}`), `answers other than 200/303/400/503; the server's log:\n${server!.stderr.slice(-3000)}`).to.deep.equal([]);
      expect(await contractViolations(checked), 'answers outside openapi.yaml').to.deep.equal([]);
      expect(flows.filter((f) => f.failure).map((f) => f.failure), 'polls answered with an error other than pending/slow_down/503').to.deep.equal([]);
      expect(flows.filter((f) => !f.done && f.approval !== 'none').length, 'approved flows still without a token after the drain').to.equal(0);

      // --- the rows: nothing lost, nothing twice ---
      const rows: Array<Record<string, any>> = await knex!('device_authorizations').where({ client_id: client.id });
      const access: Array<Record<string, any>> = await knex!('access_tokens').where({ client_id: client.id });
      const refresh: Array<Record<string, any>> = await knex!('refresh_tokens').where({ client_id: client.id });
      const byCode = new Map(rows.map((row) => [row.device_code_hash as string, row]));
      const problems: string[] = [];
      for (const flow of flows) {
        const row = byCode.get(deviceCodeKey(flow.deviceCode));
        if (!row) {
          problems.push(`flow ${flow.userCode}: no row`);
          continue;
        }
        const issued = access.filter((a) => a.device_authorization_id === row.id);
        if (flow.accessTokens.length > 1) problems.push(`flow ${flow.userCode}: the device received ${flow.accessTokens.length} tokens`);
        if (flow.approval === 'approved' || (flow.approval === 'unknown' && row.status !== 'pending')) {
          if (row.status !== 'consumed') problems.push(`flow ${flow.userCode} (approved${flow.approvedBeforeOutage ? ' before the outage' : ''}): status ${row.status}`);
          if (row.revoked_at !== null) problems.push(`flow ${flow.userCode}: revoked`);
          if (issued.length !== 1) problems.push(`flow ${flow.userCode}: ${issued.length} access token rows`);
          if (flow.accessTokens.length !== 1) problems.push(`flow ${flow.userCode}: the device received ${flow.accessTokens.length} tokens`);
          else if (issued[0] && issued[0].token_hash !== tokenKey(flow.accessTokens[0]!)) problems.push(`flow ${flow.userCode}: the stored token is not the one received`);
        } else if (row.status !== 'pending' || issued.length !== 0) {
          problems.push(`flow ${flow.userCode} (never approved): status ${row.status}, ${issued.length} tokens`);
        }
      }
      const receivedAccess = flows.flatMap((f) => f.accessTokens);
      const receivedRefresh = flows.flatMap((f) => f.refreshTokens);
      for (const token of receivedAccess) {
        const found = access.filter((a) => a.token_hash === tokenKey(token));
        if (found.length !== 1 || found[0]!.revoked_at !== null) problems.push(`an access token received: ${found.length} rows, revoked ${found[0]?.revoked_at}`);
      }
      for (const token of receivedRefresh) {
        const found = refresh.filter((r) => r.token_hash === tokenKey(token));
        if (found.length !== 1 || found[0]!.revoked_at !== null || found[0]!.rotated_at !== null) problems.push(`a refresh token received: ${found.length} rows`);
      }
      if (access.length !== receivedAccess.length) problems.push(`${access.length} access token rows, ${receivedAccess.length} received`);
      if (refresh.length !== receivedRefresh.length) problems.push(`${refresh.length} refresh token rows, ${receivedRefresh.length} received`);
      expect(problems).to.deep.equal([]);

      const held = heldFlows;
      expect(held.every((f) => f.accessTokens.length === 1), 'every approval held over the outage was collected').to.equal(true);
      expect(flows.filter((f) => f.approvedBeforeOutage).length).to.be.at.least(HELD);
      expect(receivedAccess.length, 'tokens issued after the restart too').to.be.greaterThan(HELD);

      // A token issued before the outage still works after it, on the same server process.
      const me = await request(url, 'GET', '/api/me', { headers: { authorization: `Bearer ${held[0]!.accessTokens[0]}` } });
      expect(me.status, me.text).to.equal(200);
    }

    it('mariadbd stopped with SIGTERM: 503 temporarily_unavailable while it is down, then recovery without a restart; no approval or token lost or duplicated', async () => {
      await runOutage('SIGTERM');
    });

    it('mariadbd killed with SIGKILL (crash recovery on restart): the same', async () => {
      await runOutage('SIGKILL');
    });

    /**
     * A transaction cut in the middle for certain: a row lock held by another session makes the
     * transaction's INSERT INTO access_tokens wait (its first write already done), and mariadbd
     * dies while it waits. The database rolls the transaction back; the server must answer in
     * time, stay up, and the grant must be exactly as it was.
     */
    async function cutTransaction(signal: 'SIGTERM' | 'SIGKILL', kind: 'exchange' | 'rotation'): Promise<void> {
      if (!db!.running) await db!.start(); // an earlier test failed while it was down
      knex ??= openDatabase(parseDatabaseUrl(db!.url));
      store = new KnexStore(knex);
      const tag = `cut-${kind}-${process.pid}`;
      const { client } = await registerClient(store, { id: `tv-${tag}`, name: 'Cut TV', type: 'public', allowedScopes: ['profile'], grantTypes: [DEVICE_GRANT, REFRESH_GRANT] });
      const user = await registerUser(store, { username: `person-${tag}`, password: TEST_PASSWORD, name: 'Cut Person' });
      const browser = new TimedBrowser(url, ANSWER_BOUND_MS);
      expect(await browser.signIn(user.username, TEST_PASSWORD)).to.equal(true);
      const started = await timedRequest(url, 'POST', '/oauth/device_authorization', { form: { client_id: client.id } }, ANSWER_BOUND_MS);
      expect(started.status, started.text).to.equal(200);
      expect(await browser.approve(started.json.user_code)).to.equal('approved');
      const deviceCode: string = started.json.device_code;
      const exchangeForm = { grant_type: DEVICE_GRANT, client_id: client.id, device_code: deviceCode };
      let oldRefresh: string | undefined;
      if (kind === 'rotation') {
        const first = await timedRequest(url, 'POST', '/oauth/token', { form: exchangeForm }, ANSWER_BOUND_MS);
        expect(first.status, first.text).to.equal(200);
        oldRefresh = first.json.refresh_token;
      }
      const grantId = String((await knex('device_authorizations').where({ device_code_hash: deviceCodeKey(deviceCode) }).first()).id);
      const state = async (k: Knex) => ({
        authorization: await k('device_authorizations').where({ id: grantId }).first(),
        access: (await k('access_tokens').where({ device_authorization_id: grantId })) as Array<Record<string, any>>,
        refresh: (await k('refresh_tokens').where({ device_authorization_id: grantId })) as Array<Record<string, any>>,
      });
      const before = await state(knex);
      await knex.destroy(); // the test's own pool is not open while mariadbd goes
      knex = undefined;

      const lock = await db!.adminConnection();
      let reply: TimedReply;
      try {
        await lock.query('BEGIN');
        await lock.query('SELECT id FROM access_tokens FOR UPDATE'); // next-key locks: every INSERT waits
        const cut = timedRequest(
          url,
          'POST',
          '/oauth/token',
          { form: kind === 'exchange' ? exchangeForm : { grant_type: REFRESH_GRANT, client_id: client.id, refresh_token: oldRefresh! } },
          ANSWER_BOUND_MS,
        );
        const deadline = Date.now() + 10_000;
        for (;;) {
          const [rows] = await lock.query('SHOW PROCESSLIST');
          if ((rows as Array<{ Info: string | null }>).some((row) => /^insert into `access_tokens`/i.test(row.Info ?? ''))) break;
          if (Date.now() > deadline) throw new Error('the INSERT INTO access_tokens never waited on the lock');
          await sleep(20);
        }
        await db!.stop(signal);
        reply = await cut;
      } finally {
        lock.destroy();
      }
      expect(reply.error, 'an answer within the bound').to.equal(undefined);
      expect(reply.endedAt - reply.startedAt).to.be.below(ANSWER_BOUND_MS);
      // 503 temporarily_unavailable: the transaction was rolled back by the database.
      expect(reply.status, reply.text).to.equal(503);
      expect(reply.json.error).to.equal('temporarily_unavailable');
      expect(server!.exit, 'the server process is still up').to.equal(undefined);

      await db!.start();
      knex = openDatabase(parseDatabaseUrl(db!.url));
      store = new KnexStore(knex);
      const after = await state(knex);
      const found: string[] = [];
      if (after.authorization.revoked_at !== null) found.push('the grant is revoked');
      if (kind === 'exchange') {
        if (after.authorization.status !== 'approved') found.push(`the authorization is ${after.authorization.status}, not approved`);
        if (after.access.length !== 0 || after.refresh.length !== 0) found.push(`${after.access.length} access and ${after.refresh.length} refresh tokens written`);
      } else {
        const old = after.refresh.find((r) => r.token_hash === tokenKey(oldRefresh!));
        if (!old || old.rotated_at !== null || old.revoked_at !== null) found.push('the old refresh token is rotated or revoked');
        if (after.access.length !== before.access.length || after.refresh.length !== before.refresh.length) found.push('tokens were written');
      }
      addFigure('halfStatesFound', found.length);
      expect(found, 'half-states').to.deep.equal([]);

      // And the device carries on: its token exactly once, or its refresh once.
      const deadline = Date.now() + 30_000;
      let done: TimedReply;
      for (;;) {
        done = await timedRequest(
          url,
          'POST',
          '/oauth/token',
          { form: kind === 'exchange' ? exchangeForm : { grant_type: REFRESH_GRANT, client_id: client.id, refresh_token: oldRefresh! } },
          ANSWER_BOUND_MS,
        );
        if (!(done.status === 503 || (done.status === 400 && done.json?.error === 'slow_down')) || Date.now() > deadline) break;
        await sleep(done.status === 503 ? 500 : done.json.interval * 1000 + 100);
      }
      expect(done.status, done.text).to.equal(200);
      const final = await state(knex);
      expect(final.authorization.status).to.equal('consumed');
      expect(final.access.filter((a) => a.token_hash === tokenKey(done.json.access_token))).to.have.length(1);
      expect(final.access).to.have.length(before.access.length + 1);
      expect(final.refresh).to.have.length(before.refresh.length + 1);
      if (kind === 'rotation') expect(final.refresh.find((r) => r.token_hash === tokenKey(oldRefresh!))?.rotated_at).to.not.equal(null);
    }

    it('an exchange transaction cut between its writes by SIGKILL of mariadbd leaves the approval approved and tokenless; the device then gets its token once', async () => {
      await cutTransaction('SIGKILL', 'exchange');
    });

    it('a refresh rotation cut between its writes by SIGTERM of mariadbd leaves the old refresh token unrotated; it then refreshes once', async () => {
      await cutTransaction('SIGTERM', 'rotation');
    });
  });

  // ---------------------------------------------------------------------------------------
  // 2. SIGKILL of the server in the middle of flows.
  // ---------------------------------------------------------------------------------------
  for (const kind of databaseKinds()) {
    describe(`[${kind}] SIGKILL of the server in the middle of flows`, () => {
      const db = new TestDatabase(kind);
      const children: ServerProcess[] = [];
      let cwd: string;

      before(async function () {
        this.timeout(60_000);
        await db.setup();
        cwd = mkdtempSync(join(tmpdir(), 'o2d-sigkill-'));
      });
      after(async () => {
        for (const child of children) await stopServerProcess(child);
        await db.teardown();
        rmSync(cwd, { recursive: true, force: true });
      });

      it('a new process on the same database and port continues every pending flow and exchanges every approved one exactly once', async () => {
        const { client } = await registerClient(db.store, {
          name: 'Kitchen Radio',
          type: 'public',
          allowedScopes: ['profile'],
          grantTypes: [DEVICE_GRANT, REFRESH_GRANT],
        });
        const person = await registerUser(db.store, { username: `sigkill-${kind}-${process.pid}`, password: TEST_PASSWORD, name: 'Killed Midway' });
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const first = startServerProcess(cwd, port, db.url);
        children.push(first);
        await first.waitForOutput(LISTENING);

        const browser = new BrowserSession(url);
        expect((await browser.signIn(person.username, TEST_PASSWORD)).status).to.equal(303);
        const start = async () => {
          const reply = await request(url, 'POST', '/oauth/device_authorization', { form: { client_id: client.id } });
          expect(reply.status, reply.text).to.equal(200);
          return { deviceCode: reply.json.device_code as string, userCode: reply.json.user_code as string };
        };
        const poll = (deviceCode: string) => request(url, 'POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: deviceCode } });

        // Pending flows whose devices already polled once.
        const pending = [await start(), await start(), await start()];
        for (const flow of pending) expect((await poll(flow.deviceCode)).json.error).to.equal('authorization_pending');
        // Approved flows whose devices have not collected their tokens yet.
        const approved = [await start(), await start(), await start()];
        for (const flow of approved) expect((await browser.decide(flow.userCode, 'approve')).status).to.equal(200);
        // A person with the confirm page open (its CSRF token made by the killed process).
        const open = await start();
        const form = await browser.get('/activate');
        const confirm = await browser.post('/activate', { csrf_token: BrowserSession.csrf(form), user_code: open.userCode });
        expect(confirm.status, confirm.text).to.equal(200);

        // Device authorizations in flight when the process dies: whatever they did must leave the
        // database usable (their outcome is unknown to their clients, by nature of a kill).
        const inFlight = Array.from({ length: 8 }, () => timedRequest(url, 'POST', '/oauth/device_authorization', { form: { client_id: client.id } }, 5_000));
        first.forceKill();
        const exit = await first.waitForExit(10_000);
        expect(exit.signal).to.equal('SIGKILL');
        await Promise.all(inFlight);
        expect(await connectionRefused(port), 'nothing listens after the kill').to.equal(true);

        const second = startServerProcess(cwd, port, db.url);
        children.push(second);
        await second.waitForOutput(LISTENING);

        if (kind === 'sqlite') {
          const check = await db.knex.raw('PRAGMA integrity_check');
          expect(check).to.deep.equal([{ integrity_check: 'ok' }]);
        }

        /** Polls until the token comes, honouring the interval and slow_down (bounded). */
        const collect = async (deviceCode: string): Promise<Reply> => {
          const deadline = Date.now() + 30_000;
          for (;;) {
            const reply = await poll(deviceCode);
            if (reply.status !== 400 || reply.json.error !== 'slow_down' || Date.now() > deadline) return reply;
            await sleep(reply.json.interval * 1000 + 100);
          }
        };
        let resumed = 0;
        const tokens: string[] = [];
        const exchangeExactlyOnce = async (flow: { deviceCode: string; userCode: string }) => {
          const reply = await collect(flow.deviceCode);
          expect(reply.status, `${flow.userCode}: ${reply.text}`).to.equal(200);
          tokens.push(reply.json.access_token);
          const me = await request(url, 'GET', '/api/me', { headers: { authorization: `Bearer ${reply.json.access_token}` } });
          expect(me.status, me.text).to.equal(200);
          const row = await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(flow.deviceCode) }).first();
          expect(row.status).to.equal('consumed');
          const rows = await db.knex('access_tokens').where({ device_authorization_id: row.id });
          expect(rows.map((r: Record<string, unknown>) => r.token_hash)).to.deep.equal([tokenKey(reply.json.access_token)]);
          expect(await db.knex('refresh_tokens').where({ device_authorization_id: row.id })).to.have.length(1);
          resumed++;
        };

        // The approved ones: one token each, exactly once.
        for (const flow of approved) await exchangeExactlyOnce(flow);
        // The pending ones continue: the same session approves them on the new process.
        for (const flow of pending) {
          expect((await browser.decide(flow.userCode, 'approve')).status).to.equal(200);
          await exchangeExactlyOnce(flow);
        }
        // The open confirm page: pressing Approve on it reaches the new process.
        const decided = await browser.post('/activate/decision', { csrf_token: BrowserSession.csrf(confirm), user_code: open.userCode, decision: 'approve' });
        expect(decided.status, decided.text).to.equal(200);
        await exchangeExactlyOnce(open);

        // Exactly once: a second exchange of an approved code is refused.
        const again = await poll(approved[0]!.deviceCode);
        expect(again.status).to.equal(400);
        expect(again.json.error).to.equal('invalid_grant');
        expect(new Set(tokens).size).to.equal(tokens.length);

        addFigure('flowsResumedAfterSigkill', resumed);
        expect(resumed).to.equal(pending.length + approved.length + 1);

        second.terminate();
        expect(await second.waitForExit()).to.deep.equal({ code: 0, signal: null });
      });
    });
  }

  // ---------------------------------------------------------------------------------------
  // 3. SIGTERM drains requests in flight.
  // ---------------------------------------------------------------------------------------
  describe('SIGTERM with a request in flight', () => {
    const db = new TestDatabase('sqlite');
    let child: ServerProcess | undefined;
    let cwd: string;
    const sockets: Socket[] = [];

    before(async function () {
      this.timeout(60_000);
      await db.setup();
      cwd = mkdtempSync(join(tmpdir(), 'o2d-sigterm-'));
    });
    after(async () => {
      for (const socket of sockets) socket.destroy();
      await stopServerProcess(child);
      await db.teardown();
      rmSync(cwd, { recursive: true, force: true });
    });

    /** Reads one HTTP response (head and Content-Length body) from a raw socket, bounded. */
    function readResponse(socket: Socket, ms = 15_000): Promise<{ status: number; head: string; body: string }> {
      return new Promise((ok, fail) => {
        let data = '';
        const timer = setTimeout(() => done(() => fail(new Error(`no whole response within ${ms} ms: ${JSON.stringify(data)}`))), ms);
        const onData = (chunk: Buffer) => {
          data += chunk.toString('utf8');
          const end = data.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = data.slice(0, end);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
          const body = data.slice(end + 4);
          if (Buffer.byteLength(body) >= length) done(() => ok({ status: Number(head.split(' ')[1]), head, body }));
        };
        const onClose = () => done(() => fail(new Error(`the connection closed before a whole response: ${JSON.stringify(data)}`)));
        const done = (settle: () => void) => {
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('close', onClose);
          settle();
        };
        socket.on('data', onData);
        socket.once('close', onClose);
      });
    }

    function open(port: number): Promise<Socket> {
      return new Promise((ok, fail) => {
        const socket = connect(port, '127.0.0.1');
        sockets.push(socket);
        socket.once('connect', () => ok(socket));
        socket.once('error', fail);
      });
    }

    it('a request whose body is still arriving gets its normal answer; then the process exits 0 and refuses connections', async () => {
      const { client } = await registerClient(db.store, { name: 'Slow Uplink TV', type: 'public', allowedScopes: ['profile'] });
      const port = await freePort();
      child = startServerProcess(cwd, port, db.url);
      await child.waitForOutput(LISTENING);

      // An idle keep-alive connection (one finished request) must not hold the exit up.
      const idle = await open(port);
      idle.write(`GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      expect((await readResponse(idle)).status).to.equal(200);
      let idleClosed = false;
      idle.once('close', () => (idleClosed = true));

      // The slow client: the head and the first part of the body, then SIGTERM, then the rest.
      const body = `client_id=${encodeURIComponent(client.id)}&scope=profile`;
      const slow = await open(port);
      const answer = readResponse(slow);
      slow.write(
        `POST /oauth/device_authorization HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
      );
      await sleep(300);
      const signalledAt = Date.now();
      child.terminate();
      await child.waitForOutput(/SIGTERM: finishing requests in flight/, 5_000);
      await sleep(300);
      expect(await connectionRefused(port), 'new connections are refused while it drains').to.equal(true);
      await waitUntil(() => idleClosed, 3_000, 'the server closing the idle keep-alive connection');
      expect(child.exit, 'still running while a request is in flight').to.equal(undefined);
      slow.write(body.slice(10));

      const reply = await answer;
      const answeredAt = Date.now();
      expect(reply.status, reply.head + reply.body).to.equal(200);
      expect(reply.head.toLowerCase(), 'the answer closes its connection while the server stops').to.include('connection: close');
      const json = JSON.parse(reply.body);
      expect(json.device_code).to.be.a('string');
      expect(json.user_code).to.be.a('string');
      const row = await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(json.device_code) }).first();
      expect(row?.status, 'the answered request was also stored').to.equal('pending');

      // The process exits 0 right after the answer, long before its 10 s fallback (exit 1),
      // even though this client would keep the connection open as a pooling client does.
      const exit = await child.waitForExit(12_000);
      expect(exit).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - answeredAt, 'time from the last answer to exit').to.be.below(3_000);
      expect(Date.now() - signalledAt, 'time from SIGTERM to exit').to.be.below(9_000);
      expect(await connectionRefused(port), 'nothing listens after the exit').to.equal(true);
    });
  });

  // ---------------------------------------------------------------------------------------
  // 4. Transactions leave no half-state.
  // ---------------------------------------------------------------------------------------
  forEachDatabase('transactions leave no half-state when a write between others fails', (db) => {
    let server: RunningServer;
    let flows: Lifecycle;
    const logged: unknown[] = [];

    before(async () => {
      server = await startServer(db.store, { logError: (err) => void logged.push(err) });
      flows = new Lifecycle(db, () => server);
    });
    after(async () => server?.close());
    beforeEach(() => {
      logged.length = 0;
    });

    const dialect = (): Dialect => db.kind;

    /** A trigger that refuses every INSERT or UPDATE of `table`: a real failure between the writes. */
    async function failOn(name: string, event: 'INSERT' | 'UPDATE', table: string): Promise<void> {
      await db.knex.raw(
        dialect() === 'sqlite'
          ? `CREATE TRIGGER ${name} BEFORE ${event} ON ${table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`
          : `CREATE TRIGGER ${name} BEFORE ${event} ON ${table} FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'`,
      );
    }
    async function dropTrigger(name: string): Promise<void> {
      await db.knex.raw(`DROP TRIGGER IF EXISTS ${name}`);
    }
    async function withTrigger<T>(name: string, event: 'INSERT' | 'UPDATE', table: string, work: () => Promise<T>): Promise<T> {
      await failOn(name, event, table);
      try {
        return await work();
      } finally {
        await dropTrigger(name);
      }
    }

    /** The injected failure: a 500 server_error without a trace of its cause; the cause is logged. */
    function expectServerError(reply: TimedReply): void {
      expect(reply.status, reply.text).to.equal(500);
      expect(reply.json?.error).to.equal('server_error');
      expect(reply.headers.get('cache-control')).to.equal('no-store');
      expect(reply.text).not.to.match(/injected failure|SQLITE|ER_SIGNAL|\bat \S+ \(|\.ts:\d+|knex|trigger/i);
      expect(logged.map(String).join('\n')).to.include('injected failure');
    }

    const tokenCall = (form: Record<string, string>) => timedRequest(server.url, 'POST', '/oauth/token', { form }, ANSWER_BOUND_MS);

    async function approvedNotExchanged(device: DeviceClient): Promise<{ deviceCode: string; grantId: string }> {
      const { browser } = await flows.person();
      const authorization = await server.call('POST', '/oauth/device_authorization', { form: { client_id: device.client.id } });
      expect(authorization.status, authorization.text).to.equal(200);
      expect((await browser.decide(authorization.json.user_code, 'approve')).status).to.equal(200);
      const row = await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(authorization.json.device_code) }).first();
      return { deviceCode: authorization.json.device_code, grantId: String(row.id) };
    }

    async function grantState(grantId: string) {
      const authorization = await db.knex('device_authorizations').where({ id: grantId }).first();
      const access: Array<Record<string, any>> = await db.knex('access_tokens').where({ device_authorization_id: grantId });
      const refresh: Array<Record<string, any>> = await db.knex('refresh_tokens').where({ device_authorization_id: grantId });
      return { authorization, access, refresh };
    }

    /** Counts and reports the half-states found; the figure is kept even when it is 0. */
    function reportHalfStates(found: string[]): void {
      addFigure('halfStatesFound', found.length);
      expect(found, 'half-states').to.deep.equal([]);
    }

    for (const [table, where] of [
      ['access_tokens', 'after the authorization is marked consumed'],
      ['refresh_tokens', 'after the authorization is consumed and the access token stored'],
    ] as const) {
      it(`device code exchange: a failed INSERT into ${table} (${where}) leaves it approved with no tokens; the next poll gets the token exactly once`, async () => {
        const device = await flows.refreshingClient();
        const { deviceCode, grantId } = await approvedNotExchanged(device);
        const form = { grant_type: DEVICE_GRANT, client_id: device.client.id, device_code: deviceCode };
        const failed = await withTrigger('fail_token', 'INSERT', table, () => tokenCall(form));
        expectServerError(failed);

        const found: string[] = [];
        const after = await grantState(grantId);
        if (after.authorization.status !== 'approved') found.push(`authorization is ${after.authorization.status}, not approved`);
        if (after.access.length !== 0) found.push(`${after.access.length} access tokens written`);
        if (after.refresh.length !== 0) found.push(`${after.refresh.length} refresh tokens written`);
        reportHalfStates(found);

        server.clock.advance(5); // the failed request's poll was recorded (outside the transaction, by design)
        const token = await flows.pollDeviceCode(device, deviceCode);
        expect(token.status, token.text).to.equal(200);
        const done = await grantState(grantId);
        expect(done.authorization.status).to.equal('consumed');
        expect(done.access.map((a) => a.token_hash)).to.deep.equal([tokenKey(token.json.access_token)]);
        expect(done.refresh.map((r) => r.token_hash)).to.deep.equal([tokenKey(token.json.refresh_token)]);
        await flows.expectAccessWorks(token.json.access_token);
        server.clock.advance(5);
        const again = await flows.pollDeviceCode(device, deviceCode);
        expect(again.status).to.equal(400);
        expect(again.json.error).to.equal('invalid_grant');
      });
    }

    for (const [table, where] of [
      ['access_tokens', 'after the old refresh token is marked rotated'],
      ['refresh_tokens', 'after the old one is rotated and the new access token stored'],
    ] as const) {
      it(`refresh rotation: a failed INSERT into ${table} (${where}) leaves the old refresh token unrotated and usable`, async () => {
        const device = await flows.refreshingClient();
        const approval: Approval = await flows.approve(device);
        const oldRefresh = approval.tokens.refresh_token!;
        const before = await grantState(approval.grantId);
        const failed = await withTrigger('fail_token', 'INSERT', table, () =>
          tokenCall({ grant_type: REFRESH_GRANT, client_id: device.client.id, refresh_token: oldRefresh }),
        );
        expectServerError(failed);

        const found: string[] = [];
        const after = await grantState(approval.grantId);
        const old = after.refresh.find((r) => r.token_hash === tokenKey(oldRefresh));
        if (!old || old.rotated_at !== null) found.push('the old refresh token is marked rotated');
        if (old?.revoked_at !== null) found.push('the old refresh token is revoked');
        if (after.access.length !== before.access.length) found.push(`${after.access.length - before.access.length} access tokens written`);
        if (after.refresh.length !== before.refresh.length) found.push(`${after.refresh.length - before.refresh.length} refresh tokens written`);
        if (after.authorization.revoked_at !== null) found.push('the grant is revoked');
        reportHalfStates(found);

        // The old one still works, exactly once, and its successor works in turn.
        await flows.expectAccessWorks(approval.tokens.access_token);
        const next = await flows.refreshed(device, oldRefresh);
        await flows.expectAccessWorks(next.access_token);
        const rotated = (await grantState(approval.grantId)).refresh.find((r) => r.token_hash === tokenKey(oldRefresh));
        expect(rotated?.rotated_at).to.not.equal(null);
        const third = await flows.refreshed(device, next.refresh_token!);
        await flows.expectAccessWorks(third.access_token);
      });
    }

    for (const [table, where] of [
      ['access_tokens', 'after the approval is marked revoked'],
      ['refresh_tokens', 'after the approval and its access tokens are revoked'],
    ] as const) {
      it(`revoking a grant: a failed UPDATE of ${table} (${where}) revokes nothing; the retry revokes everything`, async () => {
        const device = await flows.refreshingClient();
        const approval = await flows.approve(device);
        const refreshed = await flows.refreshed(device, approval.tokens.refresh_token!); // two access tokens, two refresh tokens
        const failed = await withTrigger('fail_revoke', 'UPDATE', table, () =>
          timedRequest(server.url, 'POST', '/oauth/revoke', { form: { token: refreshed.refresh_token!, client_id: device.client.id } }, ANSWER_BOUND_MS),
        );
        expectServerError(failed);

        const found: string[] = [];
        const after = await grantState(approval.grantId);
        if (after.authorization.revoked_at !== null) found.push('the approval is marked revoked');
        const revokedAccess = after.access.filter((a) => a.revoked_at !== null).length;
        const revokedRefresh = after.refresh.filter((r) => r.revoked_at !== null).length;
        if (revokedAccess !== 0) found.push(`${revokedAccess} of ${after.access.length} access tokens revoked`);
        if (revokedRefresh !== 0) found.push(`${revokedRefresh} of ${after.refresh.length} refresh tokens revoked`);
        reportHalfStates(found);
        await flows.expectAccessWorks(refreshed.access_token);

        // All or nothing: the retry revokes all of it.
        const revoked = await flows.revoke(device, refreshed.refresh_token!);
        expect(revoked.status, revoked.text).to.equal(200);
        const done = await grantState(approval.grantId);
        expect(done.authorization.revoked_at).to.not.equal(null);
        expect(done.access.every((a) => a.revoked_at !== null)).to.equal(true);
        expect(done.refresh.every((r) => r.revoked_at !== null)).to.equal(true);
        await flows.expectAccessRefused(refreshed.access_token);
        await flows.expectRefreshRefused(device, refreshed.refresh_token!);
      });
    }
  });
});

