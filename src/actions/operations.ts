/**
 * What the people who run the server watch: liveness (`/healthz`: the process answers),
 * readiness (`/readyz`: the database answers and its schema is current, within a bounded
 * time even when the database hangs) and Prometheus metrics (`/metrics`, optionally behind a
 * bearer token).
 */
import { timingSafeEqual } from 'node:crypto';
import { HealthStatusEnum, NotReadyErrorEnum, NotReadyStatusEnum, ReadinessStatusEnum, type Health, type NotReady, type Readiness } from '../../generated/models';
import { sha256 } from '../helpers/secrets';
import { InvalidToken, safeDescription } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerMetrics } from '../metrics';
import type { ServerContext } from '../server-context';

/** A readiness probe gets its answer within this time, even when the database hangs. */
export const READINESS_TIMEOUT_MS = 2000;

/** GET /healthz: 200 whenever the process can answer at all. */
export function getHealth(): OperationHandler {
  return (_c, ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: HealthStatusEnum.Ok } satisfies Health;
  };
}

/** Seconds a load balancer is asked to wait before it asks again. */
const NOT_READY_RETRY_AFTER = 5;

type Check = { ready: true } | { ready: false; reason: string };

async function readiness(server: ServerContext): Promise<Check> {
  const check = server.store.checkReady;
  if (!check) return { ready: true }; // a Store without a check: nothing more to know
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Check>((ok) => {
    timer = setTimeout(() => ok({ ready: false, reason: `the database did not answer within ${READINESS_TIMEOUT_MS / 1000} s` }), READINESS_TIMEOUT_MS);
  });
  const checked = check.call(server.store).catch((err: unknown): Check => {
    server.logger.warn({ err }, 'readiness check failed');
    return { ready: false, reason: 'the readiness check failed' };
  });
  try {
    return await Promise.race([checked, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /readyz: 200 when ready; else 503 (a load balancer stops sending traffic) in the
 * server's one error shape, with the reason.
 */
export function getReadiness(server: ServerContext): OperationHandler {
  return async (_c, ctx) => {
    const result = await readiness(server);
    ctx.set('Cache-Control', 'no-store');
    if (result.ready) {
      ctx.body = { status: ReadinessStatusEnum.Ready } satisfies Readiness;
      return;
    }
    ctx.status = 503;
    ctx.set('Retry-After', String(NOT_READY_RETRY_AFTER));
    ctx.body = {
      status: NotReadyStatusEnum.NotReady,
      reason: result.reason,
      error: NotReadyErrorEnum.TemporarilyUnavailable,
      error_description: safeDescription(`not ready: ${result.reason}`),
    } satisfies NotReady;
  };
}

/** GET /metrics: the Prometheus text format. */
export function getMetrics(server: ServerContext, metrics: ServerMetrics): OperationHandler {
  const expected = server.options.metricsToken === undefined ? undefined : sha256(server.options.metricsToken);
  return async (_c, ctx) => {
    if (expected !== undefined) {
      const match = /^Bearer +(\S+) *$/i.exec(ctx.get('authorization'));
      // Compared as hashes: equal lengths, and no timing hint about the token.
      const given = match ? sha256(match[1]!) : '';
      if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
        throw new InvalidToken('metrics', 'GET /metrics needs the metrics bearer token');
      }
    }
    const text = await metrics.scrape();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.contentType;
    ctx.body = text;
  };
}
