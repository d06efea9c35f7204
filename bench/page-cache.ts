/**
 * Warm caches before the scale scenarios: the SQLite file read into the OS page cache
 * (readUntilCached, before each run), MySQL's lookup indexes into InnoDB's buffer pool
 * (warmBufferPool, once per server).
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
import { createConnection } from 'mysql2/promise';
import { mysqlConnectionOptions, type DatabaseTarget } from '../src/storage/database';

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

/**
 * A pass slower than this came (partly) from disk: here the 3.7-3.9 GB scale file read at
 * 2.8-4.6 GB/s from the page cache and at 0.04-0.6 from the virtual disk.
 */
const FROM_CACHE_BYTES_PER_SECOND = 1024 * 1024 * 1024;
const MOST_PASSES = 3;

/**
 * readThrough again until a pass comes from the page cache (at most MOST_PASSES). One pass
 * from disk can take longer than DAMON leaves its first pages cached: at 14:47 a 92-s pass left
 * part of the file on disk again, and the run after it read from disk (p99 72.8 ms, against
 * 19.6 in the next run of the same scenario).
 */
export function readUntilCached(file: string): { megabytes: number; seconds: number; passes: number } {
  let seconds = 0;
  for (let passes = 1; ; passes++) {
    const pass = readThrough(file);
    seconds += pass.seconds;
    const fromCache = pass.megabytes * 1024 * 1024 >= FROM_CACHE_BYTES_PER_SECOND * pass.seconds;
    if (fromCache || passes === MOST_PASSES) return { megabytes: pass.megabytes, seconds, passes };
  }
}

/** The indexes the scale scenarios look rows up by: each is scanned once to load its pages. */
const MYSQL_LOOKUP_INDEXES: Array<[table: string, index: string, column: string]> = [
  ['access_tokens', 'PRIMARY', 'id'],
  ['access_tokens', 'access_tokens_token_hash_unique', 'token_hash'],
  ['device_authorizations', 'PRIMARY', 'id'],
  ['device_authorizations', 'device_authorizations_device_code_hash_unique', 'device_code_hash'],
];

export interface BufferPoolWarmUp {
  bufferPoolMb: number;
  /** Data and indexes of the tables the scenarios read, as information_schema counts them. */
  tablesMb: number;
  /** Whether the indexes were scanned: not when the pool cannot hold the tables anyway. */
  warmed: boolean;
  seconds: number;
}

/**
 * The same steady state for MySQL: InnoDB reads with O_DIRECT, so its buffer pool is the only
 * cache, and one filled by a seeding run minutes earlier (then by other databases' runs) holds
 * only part of 10 M tokens (6.8 GB of tables on MariaDB 10.11, against its default pool of
 * 128 MB). When the pool can hold the tables, each lookup index and the rows' primary key are
 * scanned once (a full scan lands in InnoDB's old sublist, which a pool that fits everything
 * never evicts): with a 10 GB pool, 30 s, after which a resource load over all 10 M tokens
 * read no page from disk (Innodb_buffer_pool_reads unchanged). When it cannot, nothing is
 * scanned and the caller says that the figures include reads from disk.
 */
export async function warmBufferPool(target: DatabaseTarget): Promise<BufferPoolWarmUp> {
  const started = process.hrtime.bigint();
  const connection = await createConnection(mysqlConnectionOptions(target));
  try {
    const [[pool]] = (await connection.query('SELECT @@innodb_buffer_pool_size AS bytes')) as unknown as [[{ bytes: number }]];
    const [[tables]] = (await connection.query(
      "SELECT SUM(data_length + index_length) AS bytes FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('access_tokens', 'device_authorizations')",
    )) as unknown as [[{ bytes: number }]];
    const bufferPoolMb = Number(pool.bytes) / 1024 / 1024;
    const tablesMb = Number(tables.bytes) / 1024 / 1024;
    const warmed = tablesMb < bufferPoolMb * 0.9;
    if (warmed) {
      for (const [table, index, column] of MYSQL_LOOKUP_INDEXES) {
        await connection.query(`SELECT COUNT(${column}) FROM ${table} FORCE INDEX (\`${index}\`)`);
      }
    }
    return { bufferPoolMb, tablesMb, warmed, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } finally {
    await connection.end();
  }
}
