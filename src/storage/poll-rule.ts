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
