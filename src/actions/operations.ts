/**
 * What the people who run the server watch: liveness (`/healthz`: the process answers),
 * readiness (`/readyz`: the database answers and its schema is current, within a bounded
 * time even when the database hangs) and Prometheus metrics (`/metrics`, optionally behind a
 * bearer token).
 */
import { timingSafeEqual } from 'node:crypto';
import { HealthStatusEnum, ReadinessStatusEnum, type Health, type Readiness } from '../../generated/models';
import { sha256 } from '../helpers/secrets';
import { InvalidToken } from '../http/errors';
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

async function readiness(server: ServerContext): Promise<Readiness> {
  const check = server.store.checkReady;
  if (!check) return { status: ReadinessStatusEnum.Ready }; // a Store without a check: nothing more to know
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Readiness>((ok) => {
    timer = setTimeout(() => ok({ status: ReadinessStatusEnum.NotReady, reason: `the database did not answer within ${READINESS_TIMEOUT_MS / 1000} s` }), READINESS_TIMEOUT_MS);
  });
  const checked = check
    .call(server.store)
    .then((r): Readiness => (r.ready ? { status: ReadinessStatusEnum.Ready } : { status: ReadinessStatusEnum.NotReady, reason: r.reason }))
    .catch((err: unknown): Readiness => {
      server.logger.warn({ err }, 'readiness check failed');
      return { status: ReadinessStatusEnum.NotReady, reason: 'the readiness check failed' };
    });
  try {
    return await Promise.race([checked, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** GET /readyz: 200 when ready, else 503 with the reason (a load balancer stops sending traffic). */
export function getReadiness(server: ServerContext): OperationHandler {
  return async (_c, ctx) => {
    const result = await readiness(server);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = result.status === ReadinessStatusEnum.Ready ? 200 : 503;
    ctx.body = result;
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
