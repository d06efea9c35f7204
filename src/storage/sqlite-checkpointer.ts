/**
 * Checkpoints of a SQLite WAL, mostly off the event loop. SQLite's automatic checkpoint runs
 * inside the commit that crosses its threshold, on the thread that commits: here the event
 * loop, stalled while it copies pages into the database file and syncs. So a worker thread
 * with its own connection runs a PASSIVE checkpoint every 10 ms while the server writes,
 * which copies the pages without blocking the server's readers or writer.
 *
 * That alone does not bound the WAL: under steady writes a PASSIVE checkpoint never catches up
 * with the writer (while it copies, the next batch is appended), and SQLite restarts the WAL
 * from its start only when a write begins with every page copied. Until 2026-12-02 the server's
 * connection therefore checkpointed the rest itself at 4,000 pages, on the event loop: the
 * commit that crossed it copied what the worker had not and synced both files, 20-100 ms here
 * (its fsync alone up to 40 ms under strace). At the rate a fast machine serves device
 * authorizations (10,000 a second, 1.9 WAL pages each) that happened 4-5 times a second, and
 * each time every request in flight waited: 1.9 x 50 / 4,000 = 2.4 % of the requests at 50
 * connections, whatever the rate, so the p99 was the stall (22.7 ms at 1,000,000 flows on the
 * fast machine of 2026-12-02 07:14).
 *
 * So the worker makes the restart happen, at RESTART_WAL_PAGES. When a checkpoint finds the WAL
 * that long, it raises a flag in shared memory that holds the server's group commits (their
 * requests wait, asynchronously; the event loop and every read go on), waits for a batch
 * already committing, checkpoints until every frame is copied, and lowers the flag: the next
 * batch begins with the WAL copied, and SQLite restarts it. At 16,000 pages (65 MB) a hold
 * delays 1.9 x 50 / 16,000 = 0.6 % of the requests of a write-only load, under the 1 % that a
 * p99 sees. Measured without HTTP (`bench/wal-rate.ts`: group commits of 45 through
 * sqlite-hot-paths.ts at 10,000 device flows a second for 10 s), the old way against this
 * one: the 99th-percentile batch 40-42 ms against 4.5-4.7 on the bench's small tables and
 * 76-85 against 6.5 on 1,000,000 flows; the longest event-loop delay 50-100 ms against 11-60.
 * A hold took 17-49 ms here (one checkpoint and its fsync), 135-190 ms at most at scale.
 *
 * The hold is bounded: the worker gives up after MAX_WRITE_HOLD_MS (between two checkpoints),
 * the server stops waiting after SERVER_HOLD_LIMIT_MS, and a worker that exits lowers the
 * flag. Writes outside the group commit (Knex's, another process's) are not held; for them,
 * and whenever the worker cannot catch up, the server's connection still checkpoints at
 * COMMIT_CHECKPOINT_PAGES, twice as far.
 *
 * Every 10 ms rather than 50: timed around each group commit under device authorizations,
 * at 50 ms about one batch in 27 (the one crossing the commit threshold) took 18-27 ms against
 * a median of 1.2 ms, copying the 50 ms of frames the worker had not; a batch holds nearly
 * every in-flight request, so that was the p99 (31-38 ms). At 10 ms no batch took over 7 ms
 * and the p99 was 20-21 ms.
 *
 * But a checkpoint every 10 ms kept an idle server at 2-3 % of a core (0.5-2 % at 50 ms).
 * So the server counts its commits in shared memory (`endCommit`), and the worker calls
 * SQLite only when the count moved, or once a second for writes that are not counted (Knex's,
 * another process's); it looks every 10 ms while there are commits and every 100 ms when
 * there were none (idle: 0.2-0.3 % of a core, all threads). Waking the worker at each commit
 * instead (Atomics.notify, then a checkpoint 10 ms later) measured a worse p99 (21 ms against
 * 18.6 in the bench).
 */
import { Worker } from 'node:worker_threads';

/** WAL pages (about 65 MB) at which the worker holds the group commits until it has copied every page. */
export const RESTART_WAL_PAGES = 16_000;
/** WAL pages after which a committing connection checkpoints what the worker has not copied. */
export const COMMIT_CHECKPOINT_PAGES = 2 * RESTART_WAL_PAGES;
/** The longest the worker holds the group commits while it catches up. */
export const MAX_WRITE_HOLD_MS = 100;
/** The longest the server waits for a hold to end (a worker that died mid-hold). */
export const SERVER_HOLD_LIMIT_MS = 2 * MAX_WRITE_HOLD_MS;
/** The shortest time between two of the worker's checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 10;
/** How often the worker looks for commits while there were none at its last look. */
export const CHECKPOINT_IDLE_INTERVAL_MS = 100;
/** The longest time between two when no counted commit happened. */
export const CHECKPOINT_FALLBACK_MS = 1000;

/** The slots of the shared Int32Array: commits counted, the hold flag, holds made, and 1 while
 * the server is inside a group commit (so that the worker copies that batch's frames too). */
const COMMITS = 0;
const HOLD = 1;
const HOLDS = 2;
const WRITING = 3;
const SLOTS = 4;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 1000 });
db.pragma('wal_autocheckpoint = 0');
const state = new Int32Array(workerData.state);
const [COMMITS, HOLD, HOLDS, WRITING] = workerData.slots;
let checkpointedAfter = Atomics.load(state, COMMITS);
let lastCheckpoint = Date.now();
// One PASSIVE checkpoint: { busy, log (frames in the WAL), checkpointed (frames copied) }.
const checkpoint = () => {
  checkpointedAfter = Atomics.load(state, COMMITS);
  lastCheckpoint = Date.now();
  try { return db.pragma('wal_checkpoint(PASSIVE)')[0]; } catch { return undefined; /* busy or gone: the next tick tries again */ }
};
// Hold the server's group commits and copy every frame, so that its next one restarts the WAL.
const catchUp = () => {
  Atomics.store(state, HOLD, 1);
  Atomics.add(state, HOLDS, 1);
  const deadline = Date.now() + workerData.maxHoldMs;
  try {
    // A group commit that began before the flag rose ends first: its frames are copied too.
    while (Atomics.load(state, WRITING) === 1) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      Atomics.wait(state, WRITING, 1, left);
    }
    for (;;) {
      const result = checkpoint();
      if (result && result.busy === 0 && result.checkpointed >= result.log) return;
      if (Date.now() >= deadline) return;
    }
  } finally {
    Atomics.store(state, HOLD, 0);
    Atomics.notify(state, HOLD);
  }
};
// A SQLite call only when the server committed since the last checkpoint, or a second passed;
// while it commits, a look every interval, else every idle interval.
let timer;
const tick = () => {
  const committed = Atomics.load(state, COMMITS) !== checkpointedAfter;
  if (committed || Date.now() - lastCheckpoint >= workerData.fallbackMs) {
    const result = checkpoint();
    if (result && result.log >= workerData.restartPages) catchUp();
  }
  timer = setTimeout(tick, committed ? workerData.intervalMs : workerData.idleIntervalMs);
};
timer = setTimeout(tick, workerData.intervalMs);
parentPort.postMessage('ready');
parentPort.on('message', () => {
  clearTimeout(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/** Atomics.waitAsync (Node 16+; ES2024, newer than this project's TypeScript lib). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

/** What the group commit tells the checkpointer (sqlite-group-commit.ts). */
export interface CommitGate {
  /**
   * Before a batch: undefined when it may commit now (then endCommit must follow); while the
   * worker is copying the WAL to restart it, a promise that settles when it has, after which
   * the batch asks again. After SERVER_HOLD_LIMIT_MS of holds the batch commits anyway.
   */
  beginCommit(): Promise<unknown> | undefined;
  /** After the batch; `committed`: it wrote to the WAL (the worker checkpoints within an interval or two). */
  endCommit(committed: boolean): void;
}

export interface Checkpointer extends CommitGate {
  /** The commits counted by endCommit. */
  readonly counted: number;
  /** How many times the worker has held the commits to restart the WAL. */
  readonly holds: number;
  /** Settles once the worker has opened the database (or has failed to). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export interface CheckpointerTiming {
  intervalMs: number;
  idleIntervalMs: number;
  fallbackMs: number;
  restartPages: number;
  maxHoldMs: number;
}

const DEFAULT_TIMING: CheckpointerTiming = {
  intervalMs: CHECKPOINT_INTERVAL_MS,
  idleIntervalMs: CHECKPOINT_IDLE_INTERVAL_MS,
  fallbackMs: CHECKPOINT_FALLBACK_MS,
  restartPages: RESTART_WAL_PAGES,
  maxHoldMs: MAX_WRITE_HOLD_MS,
};

export function startWalCheckpointer(file: string, timing: Partial<CheckpointerTiming> = {}): Checkpointer {
  const state = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  // Plain JavaScript with no loader: execArgv is not inherited, so a TypeScript loader the
  // process runs under (tsx) costs no second copy in the worker's isolate.
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    workerData: Object.assign({}, DEFAULT_TIMING, timing, { file, state: state.buffer, slots: [COMMITS, HOLD, HOLDS, WRITING], driver: require.resolve('better-sqlite3') }),
  });
  worker.unref(); // never what keeps a process alive
  worker.on('error', () => {}); // the commit threshold still bounds the WAL
  // A worker gone mid-hold must not leave every later commit waiting out the limit.
  worker.on('exit', () => {
    Atomics.store(state, HOLD, 0);
    Atomics.notify(state, HOLD);
  });
  const ready = new Promise<void>((resolve) => {
    worker.once('message', () => resolve());
    worker.once('exit', () => resolve());
  });
  let stopped: Promise<void> | undefined;
  /** When the first batch of the current hold was told to wait (0: no hold). */
  let heldSince = 0;
  return {
    beginCommit() {
      // WRITING before HOLD is read, and the worker raises HOLD before it reads WRITING: one of
      // the two always sees the other's flag (sequentially consistent), so no batch slips past.
      Atomics.store(state, WRITING, 1);
      if (Atomics.load(state, HOLD) === 0) {
        heldSince = 0;
        return undefined;
      }
      const now = Date.now();
      if (heldSince === 0) heldSince = now;
      else if (now - heldSince >= SERVER_HOLD_LIMIT_MS) return undefined; // the worker is stuck: write anyway
      Atomics.store(state, WRITING, 0);
      Atomics.notify(state, WRITING);
      const wait = waitAsync(state, HOLD, 1, SERVER_HOLD_LIMIT_MS);
      return wait.async ? (wait.value as Promise<string>) : Promise.resolve();
    },
    endCommit(committed) {
      if (committed) Atomics.add(state, COMMITS, 1);
      Atomics.store(state, WRITING, 0);
      Atomics.notify(state, WRITING);
    },
    get counted() {
      return Atomics.load(state, COMMITS);
    },
    get holds() {
      return Atomics.load(state, HOLDS);
    },
    ready,
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
