/**
 * HTTP over a bare TCP socket, for what fetch refuses to send: malformed request lines and
 * headers, invalid UTF-8 bytes, exact header sizes, bodies that stop half-way. Loopback only.
 */
import { connect } from 'node:net';

export interface RawReply {
  status: number;
  /** Header names in lower case; repeated headers joined with ", " (set-cookie with "\n"). */
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the first byte written to the end of the response (or the close). */
  elapsedMs: number;
}

export interface RawOutcome {
  /** The first response on the connection, when one arrived complete. */
  reply?: RawReply;
  /** What ended the exchange when there was no complete reply: 'closed', 'reset', 'timeout'. */
  ended?: 'closed' | 'reset' | 'timeout';
  received: Buffer;
}

export interface RawOptions {
  /** Give up after this many milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Half-close the socket after writing (default false: the server decides when to close). */
  endAfterWrite?: boolean;
  /** The request was HEAD: the response has no body whatever its Content-Length. */
  head?: boolean;
}

function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(data.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    if (data.length < eol + 2 + size + 2) return undefined;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The first complete response in `data`, or undefined when more bytes are needed. */
export function parseResponse(data: Buffer, closed: boolean, head = false): Omit<RawReply, 'elapsedMs'> | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine = '', ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 100))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}${name === 'set-cookie' ? '\n' : ', '}${value}`;
  }
  const rest = data.subarray(headEnd + 4);
  const status = Number(match[1]);
  let body: Buffer | undefined;
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) body = Buffer.alloc(0);
  else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    body = rest.length >= length ? rest.subarray(0, length) : undefined;
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(rest);
  else body = closed ? rest : undefined;
  return body === undefined ? undefined : { status, headers, body: body.toString('utf8') };
}

/**
 * Writes `payload` (all at once, or chunk by chunk with `pauseMs` between) and reads the first
 * response. Resolves when a complete response has arrived, or the connection ends, or on timeout.
 */
export function rawExchange(port: number, payload: Buffer | string | Array<Buffer | string>, options: RawOptions = {}): Promise<RawOutcome> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const chunks = Array.isArray(payload) ? payload : [payload];
  return new Promise((resolve) => {
    const started = Date.now();
    const received: Buffer[] = [];
    let done = false;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (outcome: Omit<RawOutcome, 'received'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...outcome, received: Buffer.concat(received) });
    };
    const tryParse = (closed: boolean): boolean => {
      let parsed: Omit<RawReply, 'elapsedMs'> | undefined;
      try {
        parsed = parseResponse(Buffer.concat(received), closed, options.head);
      } catch {
        return false;
      }
      if (!parsed) return false;
      finish({ reply: { ...parsed, elapsedMs: Date.now() - started } });
      return true;
    };
    const timer = setTimeout(() => finish({ ended: 'timeout' }), timeoutMs);
    socket.on('data', (data) => {
      received.push(data);
      tryParse(false);
    });
    socket.on('end', () => {
      if (!tryParse(true)) finish({ ended: 'closed' });
    });
    socket.on('close', () => {
      if (!tryParse(true)) finish({ ended: 'closed' });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may answer and close while the rest of a large request is still being sent.
      if (!tryParse(true)) finish({ ended: err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed' });
    });
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      if (options.endAfterWrite) socket.end();
    });
  });
}

/** A request head with CRLF line ends; `headers` are written as given (any bytes, any order). */
export function requestHead(method: string, target: string, headers: Array<[string, string]>, version = 'HTTP/1.1'): string {
  return `${method} ${target} ${version}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
