/**
 * Checkpoints of a SQLite WAL off the event loop. SQLite's automatic checkpoint runs inside the
 * commit that crosses its threshold, on the thread that commits: here the event loop, stalled
 * for milliseconds (copying pages and an fsync) in the middle of a request. Instead a worker
 * thread with its own connection runs a PASSIVE checkpoint every second, which never blocks
 * the server's readers or writer; the server's connections keep an automatic checkpoint only
 * at a far higher threshold, as a safety net should the worker stop.
 */
import { Worker } from 'node:worker_threads';

/** Pages of WAL after which a committing connection checkpoints by itself (the safety net). */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 20_000;
export const CHECKPOINT_INTERVAL_MS = 1000;

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
