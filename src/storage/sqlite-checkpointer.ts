/**
 * Checkpoints of a SQLite WAL, mostly off the event loop. SQLite's automatic checkpoint runs
 * inside the commit that crosses its threshold, on the thread that commits: here the event
 * loop, stalled while it copies pages into the database file and syncs. So a worker thread
 * with its own connection runs a PASSIVE checkpoint every 10 ms while the server writes,
 * which copies the pages without blocking the server's readers or writer.
 *
 * That alone does not bound the WAL: under steady writes a PASSIVE checkpoint never catches up
 * with the writer, and SQLite restarts the WAL from its start only when a write begins with
 * every page copied. Measured with a far-off threshold (20,000 pages) and the worker every
 * 250 ms: the WAL grew to 87 MB in 10 s of device authorizations, and the commit that crossed
 * it stalled the event loop for ~100 ms. So the server's connection keeps SQLite's own
 * checkpoint at 4,000 pages (16 MiB): the worker has copied all but the last 10 ms of them,
 * the commit that crosses it copies the rest and syncs, and the next write restarts the WAL.
 * With group commit (sqlite-group-commit.ts) writing fewer pages, 4,000 pages and 50 ms gave
 * device authorizations 0.12-0.125 x Koa against 0.10 at 1,000 pages and 250 ms, in paired
 * runs (the commits that checkpoint on the event loop are rarer; p99 24-28 ms against 21).
 *
 * Every 10 ms rather than 50: timed around each group commit under device authorizations,
 * at 50 ms about one batch in 27 (the one crossing 4,000 pages) took 18-27 ms against a
 * median of 1.2 ms, copying the 50 ms of frames the worker had not; a batch holds nearly
 * every in-flight request, so that was the p99 (31-38 ms). At 10 ms no batch took over 7 ms
 * and the p99 was 20-21 ms.
 *
 * But a checkpoint every 10 ms kept an idle server at 2-3 % of a core (0.5-2 % at 50 ms).
 * So the server counts its commits in shared memory (`written()`), and the worker calls
 * SQLite only when the count moved, or once a second for writes that are not counted (Knex's,
 * another process's); it looks every 10 ms while there are commits and every 100 ms when
 * there were none (idle: 0.2-0.3 % of a core, all threads). Waking the worker at each commit
 * instead (Atomics.notify, then a checkpoint 10 ms later) measured a worse p99 (21 ms against
 * 18.6 in the bench).
 */
import { Worker } from 'node:worker_threads';

/** WAL pages after which a committing connection checkpoints what the worker has not copied. */
export const COMMIT_CHECKPOINT_PAGES = 4000;
/** The shortest time between two of the worker's checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 10;
/** How often the worker looks for commits while there were none at its last look. */
export const CHECKPOINT_IDLE_INTERVAL_MS = 100;
/** The longest time between two when no counted commit happened. */
export const CHECKPOINT_FALLBACK_MS = 1000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 1000 });
db.pragma('wal_autocheckpoint = 0');
const commits = new Int32Array(workerData.commits);
let checkpointedAfter = Atomics.load(commits, 0);
let lastCheckpoint = Date.now();
const checkpoint = () => {
  checkpointedAfter = Atomics.load(commits, 0);
  lastCheckpoint = Date.now();
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or gone: the next tick tries again */ }
};
// A SQLite call only when the server committed since the last checkpoint, or a second passed;
// while it commits, a look every interval, else every idle interval.
let timer;
const tick = () => {
  const committed = Atomics.load(commits, 0) !== checkpointedAfter;
  if (committed || Date.now() - lastCheckpoint >= workerData.fallbackMs) checkpoint();
  timer = setTimeout(tick, committed ? workerData.intervalMs : workerData.idleIntervalMs);
};
timer = setTimeout(tick, workerData.intervalMs);
parentPort.on('message', () => {
  clearTimeout(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** The server committed to the WAL: the worker checkpoints within an interval or two. */
  written(): void;
  /** The commits counted by written(). */
  readonly counted: number;
  stop(): Promise<void>;
}

export function startWalCheckpointer(file: string, intervalMs = CHECKPOINT_INTERVAL_MS, idleIntervalMs = CHECKPOINT_IDLE_INTERVAL_MS, fallbackMs = CHECKPOINT_FALLBACK_MS): Checkpointer {
  const commits = new Int32Array(new SharedArrayBuffer(4));
  // Plain JavaScript with no loader: execArgv is not inherited, so a TypeScript loader the
  // process runs under (tsx) costs no second copy in the worker's isolate.
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    workerData: { file, intervalMs, idleIntervalMs, fallbackMs, commits: commits.buffer, driver: require.resolve('better-sqlite3') },
  });
  worker.unref(); // never what keeps a process alive
  worker.on('error', () => {}); // the fallback threshold still bounds the WAL
  let stopped: Promise<void> | undefined;
  return {
    written() {
      Atomics.add(commits, 0, 1);
    },
    get counted() {
      return Atomics.load(commits, 0);
    },
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
