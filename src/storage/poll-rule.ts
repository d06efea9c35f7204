/**
 * The poll rule of RFC 8628 §3.5 as the store writes it, in one place for every statement that
 * records a poll (the Knex path, SQLite's prepared statements, MySQL's one-statement poll).
 */

/** RFC 8628 §3.5: every slow_down adds 5 seconds to the interval. */
export const SLOW_DOWN_STEP_SECONDS = 5;

/**
 * SQL: a poll is due when none was recorded or the interval has passed since the last one.
 * One parameter: now, in milliseconds.
 */
export const POLL_DUE_SQL = '(last_polled_at IS NULL OR last_polled_at + poll_interval * 1000 <= ?)';

/**
 * POLL_DUE_SQL on a row read before the write. `false` is final: the write will find the poll
 * too soon as well, since an accepted poll only moves `last_polled_at` forward and slow_down only
 * grows the interval. `true` is not: another process may poll in between, and the write decides.
 */
export const pollDueByRow = (row: { lastPolledAt: number | null; pollInterval: number }, now: number): boolean =>
  row.lastPolledAt === null || row.lastPolledAt + row.pollInterval * 1000 <= now;
