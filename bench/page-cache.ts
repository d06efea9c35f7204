/**
 * Reads a file once from start to end, so that the OS page cache holds it before a scenario.
 *
 * Why the scale run does this for its SQLite file: a server that has been answering for a while
 * has the pages its lookups touch in the page cache, and the figure the scale run wants is
 * that steady state with 10 M tokens, not the speed of the virtual disk. On these machines a
 * DAMON `pageout` scheme evicts file pages that no process maps after about 60 s without
 * access, so a file seeded minutes earlier (or a table the scenarios before did not touch) is
 * mostly on disk again, and a 3 s warm-up of random lookups brings back only a small part of
 * it. `BENCH_SCALE_READ_FILE=0` skips this, to measure the cold case.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK_BYTES = 8 * 1024 * 1024;

export function readThrough(file: string): { megabytes: number; seconds: number } {
  const started = process.hrtime.bigint();
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  const fd = openSync(file, 'r');
  let total = 0;
  try {
    for (;;) {
      const read = readSync(fd, buffer, 0, CHUNK_BYTES, total);
      if (read === 0) break;
      total += read;
    }
  } finally {
    closeSync(fd);
  }
  return { megabytes: total / 1024 / 1024, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}
