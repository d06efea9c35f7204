/**
 * What the real server cannot be made to do on cue: drop the connection, answer 503. A tiny
 * scripted HTTP server on 127.0.0.1 answers the polls in a fixed order; the client reads it
 * through checkedFetch, so every scripted answer is also checked against openapi.yaml (a
 * dropped connection fails before there is anything to check).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { DeviceClient, OAuthResponseError, TransportError, AccessDeniedError, ExpiredTokenError } from '../../src/client';
import { contractFetch, pollsIn, recordingFetch, StepClock, type Sent } from './recording';

const INTERVAL = 5;

/** One scripted answer to a poll: a status and a JSON body, or a dropped connection. */
type Answer = 'drop' | { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const drop: Answer = 'drop';
const unavailable: Answer = { status: 503, body: { error: 'temporarily_unavailable', error_description: 'the database cannot be reached' }, headers: { 'retry-after': '1' } };
const pending: Answer = { status: 400, body: { error: 'authorization_pending' }, headers: NO_STORE };
const token: Answer = { status: 200, body: { access_token: 'o2d_at_scripted', token_type: 'Bearer', expires_in: 3600, scope: 'profile' }, headers: NO_STORE };

class ScriptedServer {
  private readonly http: Server;
  url = '';
  /** Answers for POST /oauth/token, in order. */
  script: Answer[] = [];
  tokenRequests = 0;

  constructor() {
    this.http = createServer((req, res) => this.answer(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.http.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.http.closeAllConnections();
    return new Promise<void>((ok) => this.http.close(() => ok()));
  }

  private send(res: ServerResponse, answer: Exclude<Answer, 'drop'>): void {
    res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
    res.end(JSON.stringify(answer.body));
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/oauth/device_authorization') {
        return this.send(res, {
          status: 200,
          headers: NO_STORE,
          body: {
            device_code: 'o2d_dc_scripted',
            user_code: 'WDJB-MJHT',
            verification_uri: `${this.url}/activate`,
            verification_uri_complete: `${this.url}/activate?user_code=WDJB-MJHT`,
            expires_in: 900,
            interval: INTERVAL,
          },
        });
      }
      if (req.method === 'POST' && req.url === '/oauth/token') {
        this.tokenRequests++;
        const next = this.script.shift();
        if (next === undefined) return this.send(res, { status: 400, body: { error: 'invalid_request', error_description: 'the script has ended' }, headers: NO_STORE });
        if (next === 'drop') return req.socket.destroy();
        return this.send(res, next);
      }
      this.send(res, { status: 404, body: { error: 'not_found' } });
    });
  }
}

describe('client layer: transport failures (scripted server)', () => {
  let fake: ScriptedServer;
  before(async () => {
    fake = new ScriptedServer();
    await fake.start();
  });
  after(async () => fake.close());
  beforeEach(() => {
    fake.script = [];
    fake.tokenRequests = 0;
  });
  /** Scripted answers that did not match openapi.yaml. */
  const violations: Error[] = [];
  afterEach(() => {
    const found = violations.splice(0);
    expect(found.map((e) => e.message), 'contract violations').to.deep.equal([]);
  });

  function device() {
    const clock = new StepClock({ ms: Date.UTC(2026, 0, 1) });
    const sent: Sent[] = [];
    const client = new DeviceClient({ issuer: fake.url, clientId: 'tv', fetch: recordingFetch(contractFetch(violations), clock.now, sent), clock });
    return { client, clock, sent };
  }

  it('network errors and 5xx: retried with exponential back-off (interval, then interval + 5, 10, ...), reset by an OAuth answer', async () => {
    fake.script = [drop, unavailable, pending, token];
    const d = device();
    const authorization = await d.client.startDeviceAuthorization();
    const retries: TransportError[] = [];
    const announced: number[] = [];
    let pendings = 0;

    const tokens = await d.client.pollForToken(authorization, {
      onRetry: (error, delaySeconds) => {
        retries.push(error);
        announced.push(delaySeconds);
      },
      onPending: () => pendings++,
    });

    expect(tokens.access_token).to.equal('o2d_at_scripted');
    // 5 s before the first poll; after the drop 5 + 5; after the 503 5 + 10; after the
    // pending answer (no transport failure any more) the interval alone.
    expect(d.clock.waits).to.deep.equal([5000, 10000, 15000, 5000]);
    expect(fake.tokenRequests).to.equal(4);
    expect(pollsIn(d.sent)).to.have.length(4);
    expect(pendings).to.equal(1);
    expect(retries).to.have.length(2);
    expect(retries[0]).to.be.instanceOf(TransportError);
    expect(retries[0]!.status).to.equal(undefined);
    expect(retries[1]).to.be.instanceOf(TransportError);
    expect(retries[1]!.status).to.equal(503);
    // onRetry announces the wait that really follows.
    expect(announced).to.deep.equal([10, 15]);
  });

  it('a 503 with a longer Retry-After is waited out in full', async () => {
    fake.script = [{ ...(unavailable as Exclude<Answer, 'drop'>), headers: { 'retry-after': '40' } }, token];
    const d = device();
    const authorization = await d.client.startDeviceAuthorization();
    const announced: number[] = [];
    await d.client.pollForToken(authorization, { onRetry: (_error, delaySeconds) => announced.push(delaySeconds) });
    expect(d.clock.waits).to.deep.equal([5000, 40000]);
    expect(announced).to.deep.equal([40]);
  });

  it('an error that is not a network failure (a bug in the fetch given) is not retried', async () => {
    fake.script = [pending, token];
    const clock = new StepClock({ ms: Date.UTC(2026, 0, 1) });
    let calls = 0;
    const broken: typeof fetch = async (input, init) => {
      if (++calls === 2) throw new RangeError('a bug in the fetch implementation');
      return fetch(input, init);
    };
    const client = new DeviceClient({ issuer: fake.url, clientId: 'tv', fetch: broken, clock });
    const authorization = await client.startDeviceAuthorization();
    let caught: unknown;
    try {
      await client.pollForToken(authorization);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(RangeError);
    expect(calls).to.equal(2);
  });

  it('back-off doubles with each transport failure in a row and is capped at 60 s', async () => {
    fake.script = [drop, drop, unavailable, drop, unavailable, drop, token];
    const d = device();
    const authorization = await d.client.startDeviceAuthorization();
    const retries: TransportError[] = [];

    const tokens = await d.client.pollForToken(authorization, { onRetry: (error) => retries.push(error) });

    expect(tokens.access_token).to.equal('o2d_at_scripted');
    // Back-off 5, 10, 20, 40, then 80 capped at 60, then 60; always on top of the 5 s interval.
    expect(d.clock.waits).to.deep.equal([5000, 10000, 15000, 25000, 45000, 65000, 65000]);
    expect(retries).to.have.length(6);
    expect(retries.every((e) => e instanceof TransportError)).to.equal(true);
    expect(retries.map((e) => e.status)).to.deep.equal([undefined, undefined, 503, undefined, 503, undefined]);
  });

  for (const code of ['invalid_grant', 'unauthorized_client', 'invalid_request']) {
    it(`RFC 8628 §3.5: a 400 with an error the polling rules do not name (${code}) stops polling with OAuthResponseError`, async () => {
      fake.script = [pending, { status: 400, body: { error: code, error_description: 'scripted' }, headers: NO_STORE }, token];
      const d = device();
      const authorization = await d.client.startDeviceAuthorization();
      const retries: unknown[] = [];

      let thrown: unknown;
      try {
        await d.client.pollForToken(authorization, { onRetry: (error) => retries.push(error) });
      } catch (err) {
        thrown = err;
      }

      expect(thrown).to.be.instanceOf(OAuthResponseError);
      expect(thrown).not.to.be.instanceOf(AccessDeniedError);
      expect(thrown).not.to.be.instanceOf(ExpiredTokenError);
      expect((thrown as OAuthResponseError).error).to.equal(code);
      expect((thrown as OAuthResponseError).errorDescription).to.equal('scripted');
      expect((thrown as OAuthResponseError).status).to.equal(400);
      expect(fake.tokenRequests).to.equal(2);
      expect(d.clock.waits).to.deep.equal([5000, 5000]);
      expect(retries).to.have.length(0);
    });
  }
});
