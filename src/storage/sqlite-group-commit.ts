/**
 * Group commit for the hot writes on SQLite (new device flows, polls). Each write made on its
 * own is a transaction: the file lock taken and released, its pages appended to the WAL, the
 * commit recorded. The writes of the requests that arrive in one turn of the event loop are
 * run instead in one transaction at the end of that turn (setImmediate): one lock and one
 * commit for all of them, and the pages they share (the table's last page, the expiry index)
 * written once. Measured on the bench data: 41 µs an insert alone, 23 µs in batches of ten.
 *
 * Nothing is answered before its commit: each write's promise settles after the batch has
 * committed, or fails with the batch. A constraint failure (a taken user code) undoes that
 * statement only (SQLite's default ABORT) and fails that write alone; any other error rolls the
 * whole batch back and fails every write in it, as it would have failed each on its own.
 */
import type BetterSqlite3 from 'better-sqlite3';

interface Job {
  write: () => unknown;
  /** The same write the slow way, when the connection is inside someone else's transaction. */
  fallback: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const isConstraintFailure = (err: unknown): boolean => String((err as { code?: unknown })?.code ?? '').startsWith('SQLITE_CONSTRAINT');

export class GroupCommit {
  private queue: Job[] = [];
  /** Runs each job's write in one IMMEDIATE transaction: the write lock up front, so another
   * process's writer cannot make it fail half-way when it upgrades from reading to writing. */
  private readonly commitBatch: (jobs: Job[]) => Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;

  constructor(
    db: BetterSqlite3.Database,
    /** False while a Knex transaction holds the connection: then each write takes its fallback. */
    private readonly usable: () => boolean,
    /** Called after each committed batch (the WAL checkpointer is told there is work). */
    private readonly committed: () => void = () => {},
  ) {
    this.commitBatch = db.transaction((jobs: Job[]) =>
      jobs.map((job) => {
        try {
          return { ok: true as const, value: job.write() };
        } catch (error) {
          if (isConstraintFailure(error)) return { ok: false as const, error };
          throw error; // rolls the batch back
        }
      }),
    ).immediate;
  }

  /** Runs `write` in the next batch; settles once that batch has committed. */
  run<T>(write: () => T, fallback: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, fallback, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const jobs = this.queue;
    this.queue = [];
    if (!this.usable()) {
      for (const job of jobs) job.fallback().then(job.resolve, job.reject);
      return;
    }
    let outcomes;
    try {
      outcomes = this.commitBatch(jobs);
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    this.committed();
    outcomes.forEach((outcome, i) => (outcome.ok ? jobs[i]!.resolve(outcome.value) : jobs[i]!.reject(outcome.error)));
  }
}
