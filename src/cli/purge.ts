/**
 * `npm run purge`: removes expired rows once from the database named by DATABASE_URL (the
 * embedded SQLite file by default), then says what it removed.
 */
import { purgeExpired } from '../purge';
import { openDatabase, parseDatabaseUrl } from '../storage/database';
import { KnexStore } from '../storage/knex-store';

async function main(): Promise<void> {
  const store = new KnexStore(openDatabase(parseDatabaseUrl(process.env.DATABASE_URL)));
  try {
    const counts = await purgeExpired(store, Date.now());
    console.log(`purged: ${Object.entries(counts).map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
  } finally {
    await store.close();
  }
}

main().catch((err) => {
  console.error('purge failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
