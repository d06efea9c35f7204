/**
 * The SQLite write path alone, at a set rate: new device flows through the server's own group
 * commit and WAL checkpointer (src/storage/sqlite-hot-paths.ts, sqlite-checkpointer.ts), no
 * HTTP. It shows what the WAL's checkpoints cost at write rates that this machine's HTTP path
 * cannot reach (a fast machine serves about 10,000 device authorizations a second).
 *
 *   npx tsx bench/wal-rate.ts <sqlite file> [inserts/s = 10000] [seconds = 10] [batch = 45]
 *
 * Writes into the file given (use a copy of a seeded database: `npm run bench:seed`). Every
 * `batch` inserts are issued in one event-loop turn (one group commit), the next batch at its
 * time on the schedule. Prints one JSON line: the rate achieved; each batch's time from issue to
 * commit (p50, p99, max, how many over 5 and 10 ms); the event loop's delay (p99, max); the
 * WAL's largest length in pages and how many times it restarted (from the WAL-index header in
 * the -shm file, sampled every millisecond); the checkpointer's holds.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openDatabase, parseDatabaseUrl, walCheckpointerOf } from '../src/storage/database';
import { SqliteHotPaths } from '../src/storage/sqlite-hot-paths';
import { deviceCodeKey, newDeviceCode, randomId, randomSecret, sha256 } from '../src/helpers/secrets';
import { BENCH_CLIENT } from './dataset';
import { walLengthReader } from './wal-index';

async function main(): Promise<void> {
  const [file, rateArg = '10000', secondsArg = '10', batchArg = '45'] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/wal-rate.ts <sqlite file> [inserts/s] [seconds] [batch]');
  const [rate, seconds, batch] = [Number(rateArg), Number(secondsArg), Number(batchArg)];
  const knex = openDatabase(parseDatabaseUrl(`sqlite:${file}`));
  const hot = await SqliteHotPaths.open(knex, 5);
  if (!hot) throw new Error('not a better-sqlite3 database');

  const wal = walLengthReader(file);
  let walLongest = 0;
  let walRestarts = 0;
  let lastFrames = 0;
  const sampler = setInterval(() => {
    const frames = wal.frames();
    if (frames < lastFrames) walRestarts++;
    lastFrames = frames;
    walLongest = Math.max(walLongest, frames);
  }, 1);
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();

  const batchMs: number[] = [];
  const period = (batch / rate) * 1000;
  const started = performance.now();
  let due = started;
  let inserted = 0;
  while (performance.now() - started < seconds * 1000) {
    const now = Date.now();
    const issued = performance.now();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < batch; i++) {
      const flow = {
        id: randomId(now), deviceCodeHash: deviceCodeKey(newDeviceCode(now)), userCodeHash: sha256(randomSecret('', 8)), clientId: BENCH_CLIENT,
        scopes: ['profile'], createdAt: now, expiresAt: now + 600_000, pollInterval: 5, requestIp: '127.0.0.1', userAgent: 'wal-rate',
      };
      writes.push(hot.createDeviceAuthorization(flow, () => Promise.reject(new Error('a Knex transaction held the connection'))));
    }
    await Promise.all(writes);
    batchMs.push(performance.now() - issued);
    inserted += batch;
    due += period;
    const wait = due - performance.now();
    await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
  }
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  wal.close();
  loopDelay.disable();

  batchMs.sort((a, b) => a - b);
  const at = (q: number) => Number(batchMs[Math.min(batchMs.length - 1, Math.floor(q * batchMs.length))]!.toFixed(2));
  console.log(JSON.stringify({
    file, rate, achieved: Math.round(inserted / elapsed), batches: batchMs.length,
    batchP50Ms: at(0.5), batchP99Ms: at(0.99), batchMaxMs: at(1),
    batchesOver5Ms: batchMs.filter((ms) => ms > 5).length, batchesOver10Ms: batchMs.filter((ms) => ms > 10).length,
    loopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(2)), loopDelayMaxMs: Number((loopDelay.max / 1e6).toFixed(2)),
    walLongestPages: walLongest, walRestarts, checkpointerHolds: walCheckpointerOf(knex)?.holds,
  }));
  await knex.destroy();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
