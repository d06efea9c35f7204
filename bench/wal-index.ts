/**
 * The length of a SQLite WAL in frames (mxFrame), read from the WAL-index header at the start
 * of its `-shm` file: 4 bytes at offset 16, in the machine's byte order (little-endian on the
 * x86-64 and arm64 machines this runs on). Read without SQLite, so reading it takes no lock and
 * does not checkpoint; `bench/wal-rate.ts` and the WAL tests watch restarts with it.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const MX_FRAME_OFFSET = 16;

export function walLengthReader(databaseFile: string): { frames(): number; close(): void } {
  const shm = openSync(`${databaseFile}-shm`, 'r');
  const header = Buffer.alloc(MX_FRAME_OFFSET + 4);
  return {
    frames() {
      readSync(shm, header, 0, header.length, 0);
      return header.readUInt32LE(MX_FRAME_OFFSET);
    },
    close() {
      closeSync(shm);
    },
  };
}
