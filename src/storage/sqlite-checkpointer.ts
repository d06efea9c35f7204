/**
 * Checkpoints of a SQLite WAL, mostly off the event loop. SQLite's automatic checkpoint runs
 * inside the commit that crosses its threshold, on the thread that commits: here the event
 * loop, stalled while it copies pages into the database file and syncs. So a worker thread
 * with its own connection runs a PASSIVE checkpoint every 50 ms, which copies the pages
 * without blocking the server's readers or writer.
 *
 * That alone does not bound the WAL: under steady writes a PASSIVE checkpoint never catches up
 * with the writer, and SQLite restarts the WAL from its start only when a write begins with
 * every page copied. Measured with a far-off threshold (20,000 pages) and the worker every
 * 250 ms: the WAL grew to 87 MB in 10 s of device authorizations, and the commit that crossed
 * it stalled the event loop for ~100 ms. So the server's connection keeps SQLite's own
 * checkpoint at 4,000 pages (16 MiB): the worker has copied all but the last 50 ms of them,
 * the commit that crosses it copies the rest and syncs, and the next write restarts the WAL.
 * With group commit (sqlite-group-commit.ts) writing fewer pages, 4,000 pages and 50 ms gave
 * device authorizations 0.12-0.125 x Koa against 0.10 at 1,000 pages and 250 ms, in paired
 * runs (the commits that checkpoint on the event loop are rarer; p99 24-28 ms against 21).
 */
import { Worker } from 'node:worker_threads';

/** WAL pages after which a committing connection checkpoints what the worker has not copied. */
export const COMMIT_CHECKPOINT_PAGES = 4000;
export const CHECKPOINT_INTERVAL_MS = 50;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 1000 });
db.pragma('wal_autocheckpoint = 0');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or gone: the next tick tries again */ }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startWalCheckpointer(file: string, intervalMs = CHECKPOINT_INTERVAL_MS): Checkpointer {
  // Plain JavaScript with no loader: execArgv is not inherited, so a TypeScript loader the
  // process runs under (tsx) costs no second copy in the worker's isolate.
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    workerData: { file, intervalMs, driver: require.resolve('better-sqlite3') },
  });
  worker.unref(); // never what keeps a process alive
  worker.on('error', () => {}); // the fallback threshold still bounds the WAL
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
        setTimeout(() => void worker.terminate(), 2000).unref();
      });
      return stopped;
    },
  };
}
