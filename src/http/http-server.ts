/**
 * The node:http server under the Koa app, with the limits an auth server needs against slow or
 * oversized requests: the whole request (headers and body) must arrive within
 * `requestTimeout` seconds (408), headers may not exceed `maxHeaderBytes` (431). Malformed
 * HTTP never reaches Koa; it gets the same JSON error shape as everything else here. When the
 * process stops, `drain()` makes every answer from then on close its connection.
 */
import { createServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

export interface HttpServerOptions {
  /** Seconds to receive a whole request, headers and body (slowloris, slow bodies). */
  requestTimeout: number;
  /** Largest request head in bytes. */
  maxHeaderBytes: number;
}

function answer(socket: Duplex, status: number, reason: string, description: string): void {
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** What Node reports about a request it could not parse or finish, as an HTTP answer. */
export function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  // A request still being read (a slow body) has a response object whose headers are not sent.
  const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || response?.headersSent) {
    socket.destroy(); // a response is already under way, or the peer is gone
    return;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return answer(socket, 408, 'Request Timeout', 'the request was not received in time');
  if (err.code === 'HPE_HEADER_OVERFLOW') return answer(socket, 431, 'Request Header Fields Too Large', 'the request headers are too large');
  if (err.code === 'ECONNRESET') return void socket.destroy();
  answer(socket, 400, 'Bad Request', 'the request is not valid HTTP');
}

export interface HttpServer extends Server {
  /**
   * From now on every response closes its connection (`Connection: close`): those of requests
   * in flight that have not sent their headers yet, and any new one. For a graceful stop:
   * drain, then `close()` and `closeIdleConnections()`.
   */
  drain(): void;
}

export function createHttpServer(listener: RequestListener<typeof IncomingMessage, typeof ServerResponse>, options: HttpServerOptions): HttpServer {
  let draining = false;
  /**
   * The answers know whether the server drains, so nothing has to keep a list of the responses
   * in flight. Such a list was a Set until issue #8 (bench/README.md, eleventh session): every
   * request added and deleted one entry, so V8 rebuilt the Set's table every few dozen requests,
   * and each table left behind points to the next. Once a full GC had moved one of them to the
   * old generation, every later table survived the scavenges through its dead predecessor, with
   * the responses it held and all they reach: 800 KB promoted a scavenge instead of none, a
   * mark-compact every 0.35 s, and 15-25 % more CPU a request for the rest of the process's life.
   */
  class DrainAwareResponse extends ServerResponse {
    override writeHead(statusCode: number, reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
      if (draining) this.setHeader('Connection', 'close');
      return typeof reasonOrHeaders === 'string' ? super.writeHead(statusCode, reasonOrHeaders, headers) : super.writeHead(statusCode, reasonOrHeaders);
    }
  }
  const server = createServer(
    {
      ServerResponse: DrainAwareResponse,
      requestTimeout: options.requestTimeout * 1000,
      headersTimeout: options.requestTimeout * 1000,
      maxHeaderSize: options.maxHeaderBytes,
      // Look for overdue requests every half second rather than Node's default of 30 s.
      connectionsCheckingInterval: 500,
      // Node would refuse a request without Host with an empty 400; refuse it as JSON below.
      requireHostHeader: false,
    },
    (req, res) => {
      if (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && !req.headers.host) {
        const body = JSON.stringify({ error: 'invalid_request', error_description: 'an HTTP/1.1 request needs a Host header' });
        res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'close' });
        res.end(body);
        return;
      }
      listener(req, res);
    },
  );
  server.keepAliveTimeout = 5000;
  server.on('clientError', onClientError);
  return Object.assign(server, {
    drain() {
      draining = true;
    },
  });
}
