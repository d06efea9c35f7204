/** The machine a run measured: cores, CPU model, memory, Node, SQLite and MariaDB versions. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  sqlite: string;
  mysql?: string;
  loader: string;
  /** 1-minute load average when the run started: other work on the machine skews figures. */
  loadAverageAtStart: number;
}

export async function machine(mysqlUrl?: string): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const db = new Database(':memory:');
  const sqlite = String((db.prepare('select sqlite_version() as v').get() as { v: string }).v);
  db.close();
  let mysql: string | undefined;
  if (mysqlUrl) {
    const url = new URL(mysqlUrl);
    const conn = await createConnection({ host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) });
    const [rows] = await conn.query('select version() as v');
    mysql = String((rows as { v: string }[])[0]!.v);
    await conn.end();
  }
  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  return {
    cores: cpus().length,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    sqlite,
    ...(mysql ? { mysql } : {}),
    loader: wrk.error ? 'autocannon' : (`${wrk.stdout}${wrk.stderr}`.split('\n')[0] ?? 'wrk').replace(/ Copyright.*/, ''),
    loadAverageAtStart: Math.round(loadavg()[0]! * 100) / 100,
  };
}
