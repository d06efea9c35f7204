/**
 * The first middleware: gives each request an id (a well-formed incoming X-Request-Id when the
 * server is told to trust it, else a new UUID), echoes it in the X-Request-Id response header,
 * and when the request is answered writes one JSON log line and one metrics observation:
 * id, method, path without the query string, operation, status, duration and client IP.
 * Nothing else about the request is logged: no query, no body, no header values.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { REQUEST_ID } from '../logging';
import type { ServerMetrics } from '../metrics';
import { clientIp } from './client-ip';

/** Longer paths are cut in log lines (the router answers them 404 anyway). */
const LOGGED_PATH_MAX = 256;

export interface RequestObserverOptions {
  logger: Logger;
  metrics: ServerMetrics;
  trustRequestId: boolean;
}

export function observeRequests({ logger, metrics, trustRequestId }: RequestObserverOptions): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = trustRequestId ? ctx.get('x-request-id') : '';
    const requestId = incoming !== '' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    let status = 500; // unless next() returns: an error got past the error handler
    try {
      await next();
      status = ctx.status;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const operation: string = ctx.state.operation?.operationId ?? 'none';
      metrics.observeRequest(operation, status, seconds);
      if (logger.isLevelEnabled('info')) {
        logger.info(
          {
            reqId: requestId,
            method: ctx.method,
            path: ctx.path.length > LOGGED_PATH_MAX ? `${ctx.path.slice(0, LOGGED_PATH_MAX)}...` : ctx.path,
            operation,
            status,
            durationMs: Math.round(seconds * 1e6) / 1e3,
            ip: clientIp(ctx),
          },
          'request',
        );
      }
    }
  };
}
