/**
 * Example: an append-only audit trail from the server's events. Every event (a device asked
 * for a code, a person approved or denied, tokens issued, refreshed, revoked, a lockout) becomes
 * one JSON line in a file, in the order the events happened, with ids, scopes, time, request id
 * and IP address; events never carry a secret, so neither does the trail.
 *
 * Run it: `AUDIT_FILE=audit.jsonl npx tsx examples/audit-trail.ts` (the embedded database of
 * `npm start`), then run a flow against http://localhost:3003 and `tail -f audit.jsonl`.
 */
import { appendFile } from 'node:fs/promises';
import { createApp, createHttpServer, defaults, KnexStore, migrateToLatest, openDatabase, parseDatabaseUrl, type ServerEvent } from '../src/index';

export interface AuditTrail {
  /** Give this to createApp as `onEvent`. */
  record(event: ServerEvent): Promise<void>;
  /** Resolves once every event recorded so far is in the file. */
  flush(): Promise<void>;
}

/** One line per event, appended in order: the writes are chained, never concurrent. */
export function auditTrail(file: string, onError: (err: unknown) => void = console.error): AuditTrail {
  let written: Promise<void> = Promise.resolve();
  return {
    record(event) {
      const line = JSON.stringify({ ...event, time: new Date(event.time).toISOString() }) + '\n';
      written = written.then(() => appendFile(file, line, { flag: 'a', mode: 0o600 })).catch(onError);
      return written;
    },
    flush: () => written,
  };
}

async function main(): Promise<void> {
  const knex = openDatabase(parseDatabaseUrl(process.env.DATABASE_URL));
  await migrateToLatest(knex);
  const trail = auditTrail(process.env.AUDIT_FILE ?? 'audit.jsonl');
  const { app } = await createApp({
    issuer: process.env.OAUTH2_ISSUER ?? 'http://localhost:3003',
    store: new KnexStore(knex),
    secretKeys: [process.env.OAUTH2_SECRET_KEYS ?? 'example-key-change-me-0123456789abcdef'],
    onEvent: trail.record,
  });
  createHttpServer(app.callback(), defaults).listen(3003, '127.0.0.1', () => console.log('http://localhost:3003, audit trail in', process.env.AUDIT_FILE ?? 'audit.jsonl'));
}

if (require.main === module) void main();
