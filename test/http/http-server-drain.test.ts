/**
 * createHttpServer's drain() (src/http/http-server.ts), which the standalone server calls on
 * SIGTERM: answers sent before it keep their connection alive; from then on every answer closes
 * its connection, whether its request was in flight when drain() came or arrived after, and
 * whichever way its headers are written. Checked over real HTTP with a keep-alive client.
 */
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createHttpServer, type HttpServer } from '../../src/http/http-server';
import { waitUntil } from '../support/wait';

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

describe('createHttpServer: drain() for a graceful stop', () => {
  let server: HttpServer;
  let agent: Agent;
  let port: number;
  /** Requests to /held wait here until the test answers them. */
  const held: Array<() => void> = [];

  before(async () => {
    server = createHttpServer(
      (req: IncomingMessage, res: ServerResponse) => {
        const answer = () => {
          if (req.url === '/explicit') {
            res.writeHead(201, 'Created', { 'Content-Type': 'text/plain' });
            res.end('explicit');
          } else if (req.url === '/reason-only') {
            res.writeHead(202, 'Accepted');
            res.end('reason');
          } else {
            res.setHeader('Content-Type', 'text/plain');
            res.end(req.url); // headers written implicitly, as Koa writes them
          }
        };
        if (req.url === '/held') held.push(answer);
        else answer();
      },
      { requestTimeout: 10, maxHeaderBytes: 16_384 },
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
    agent = new Agent({ keepAlive: true, maxSockets: 4 });
  });

  after(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  });

  function get(path: string): Promise<Answer> {
    return new Promise((ok, fail) => {
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => ok({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      });
      req.setTimeout(5_000, () => req.destroy(new Error(`no answer to ${path} within 5 s`)));
      req.on('error', fail);
      req.end();
    });
  }

  it('keeps connections alive before drain(); after it, closes them on the answers of requests in flight and of new ones', async () => {
    const before = await get('/before');
    expect(before).to.deep.equal({ status: 200, connection: 'keep-alive', body: '/before' });

    const inFlight = get('/held');
    await waitUntil(() => held.length === 1, 5_000, 'the held request to arrive');
    server.drain();
    held.shift()!();
    expect(await inFlight, 'a request in flight when drain() came').to.deep.equal({ status: 200, connection: 'close', body: '/held' });

    expect(await get('/after'), 'implicit headers after drain()').to.deep.equal({ status: 200, connection: 'close', body: '/after' });
    expect(await get('/explicit'), 'writeHead(status, reason, headers)').to.deep.equal({ status: 201, connection: 'close', body: 'explicit' });
    expect(await get('/reason-only'), 'writeHead(status, reason)').to.deep.equal({ status: 202, connection: 'close', body: 'reason' });
  });
});
