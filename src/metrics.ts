/**
 * Prometheus metrics. Each app has its own Registry (several apps may live in one process);
 * the flow and token counters are a subscriber of the app's events, so they count exactly
 * what the events report. Process metrics (CPU, memory, event loop, GC) belong to the process,
 * not to an app: they are collected once per process and appended to every app's scrape.
 * Per request the cost is one histogram observation; the pool gauges are read at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerEvents } from './events';
import type { Store } from './storage/store';

let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Seconds from a device's request to the person's approval: most are quick, the code lives 15 min. */
const APPROVAL_BUCKETS = [5, 10, 20, 30, 60, 120, 300, 600, 900, 1800];
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ServerMetrics {
  registry: Registry;
  /** Records one finished request; `operation` is the operationId or "none". */
  observeRequest(operation: string, status: number, seconds: number): void;
  /** The Prometheus text of this app and of the process. */
  scrape(): Promise<string>;
  contentType: string;
}

export function createMetrics(events: ServerEvents, store: Store): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });

  const started = counter('oauth2_device_authorizations_started_total', 'Device flows started (RFC 8628 §3.1).');
  const approved = counter('oauth2_device_authorizations_approved_total', 'Device flows approved by the person.');
  const denied = counter('oauth2_device_authorizations_denied_total', 'Device flows denied by the person.');
  const expired = counter('oauth2_device_authorizations_expired_total', 'Device flows found expired without an exchange (counted once per flow).');
  const consumed = counter('oauth2_device_authorizations_consumed_total', 'Approved device codes exchanged for tokens.');
  const issued = counter('oauth2_tokens_issued_total', 'Access tokens issued, by grant type.', ['grant_type']);
  const refreshed = counter('oauth2_tokens_refreshed_total', 'Refresh tokens rotated into new tokens.');
  const revoked = counter('oauth2_tokens_revoked_total', 'Revocations of a token or a whole grant, by what and why.', ['what', 'reason']);
  const slowDown = counter('oauth2_slow_down_total', 'Polls answered slow_down (RFC 8628 §3.5).');
  const lockouts = counter('oauth2_user_code_lockouts_total', 'Lockouts after too many wrong user codes, by IP address or account.', ['subject']);
  const approvalSeconds = new Histogram({
    name: 'oauth2_approval_duration_seconds',
    help: 'Seconds from the device request to the approval.',
    buckets: APPROVAL_BUCKETS,
    registers,
  });
  const requestSeconds = new Histogram({
    name: 'oauth2_http_request_duration_seconds',
    help: 'Time to answer a request, by operation (operationId, or none) and status.',
    labelNames: ['operation', 'status'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'oauth2_db_pool_connections',
    help: 'Database pool connections by state: used, free, pending (requests waiting for one).',
    labelNames: ['state'],
    registers,
    collect() {
      const stats = store.poolStats?.();
      if (!stats) return;
      this.set({ state: 'used' }, stats.used);
      this.set({ state: 'free' }, stats.free);
      this.set({ state: 'pending' }, stats.pending);
    },
  });
  new Gauge({
    name: 'oauth2_db_pool_size',
    help: 'Largest number of connections the database pool may open.',
    registers,
    collect() {
      const stats = store.poolStats?.();
      if (stats) this.set(stats.size);
    },
  });

  events.on('device_authorization.created', () => started.inc());
  events.on('device_authorization.approved', (e) => {
    approved.inc();
    approvalSeconds.observe(Math.max(0, (e.time - e.requestedAt) / 1000));
  });
  events.on('device_authorization.denied', () => denied.inc());
  events.on('device_authorization.expired', () => expired.inc());
  events.on('device_authorization.consumed', () => consumed.inc());
  events.on('device_authorization.slow_down', () => slowDown.inc());
  events.on('token.issued', () => issued.inc({ grant_type: 'device_code' }));
  events.on('token.refreshed', () => {
    refreshed.inc();
    issued.inc({ grant_type: 'refresh_token' });
  });
  events.on('token.revoked', (e) => revoked.inc({ what: e.what, reason: e.reason }));
  events.on('user_code.lockout', (e) => lockouts.inc({ subject: e.subject }));

  // One child per operation and status, made on first use: no label hashing per request.
  const children = new Map<string, Histogram.Internal<'operation' | 'status'>>();
  return {
    registry,
    contentType: registry.contentType,
    observeRequest(operation, status, seconds) {
      const key = `${operation} ${status}`;
      let child = children.get(key);
      if (!child) {
        child = requestSeconds.labels({ operation, status: String(status) });
        children.set(key, child);
      }
      child.observe(seconds);
    },
    async scrape() {
      return (await registry.metrics()) + (await processMetrics().metrics());
    },
  };
}
