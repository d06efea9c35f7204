/**
 * `npm run bench`: the server started as a user starts it (src/main.ts on a seeded SQLite
 * file, and on MySQL/MariaDB when MYSQL_URL is set), next to a bare Koa and a bare node:http
 * hello-world as the ceiling of this machine, all loaded the same way in the same run.
 * Prints a table and writes bench/results/latest.json. Settings: see `settingsFromEnv`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import knexFactory from 'knex';
import { SCALE, SMALL, type DatasetSize } from './dataset';
import { chooseLoader, runLoad, type LoadResult, type Loader, type Scenario } from './load';
import { machine } from './machine';
import { cpuSeconds, machineStealSeconds, peakRssMb, resetPeakRss } from './process-stats';
import { checkTargets, formatTable, MINIMUMS, type BenchReport, type ScenarioResult } from './report';
import { HELLO, PEER_SCENARIO_NAMES, SCENARIO_NAMES, peerDataset, peerScenario, scenario, type ScenarioName } from './scenarios';
import { resetDataset, seed, withoutCredentials } from './seed';
import { readUntilCached, warmBufferPool } from './page-cache';
import { buildAsNpmStartDoes, START_ENTRY, startScriptNodeFlags } from './start-script';
import { parseDatabaseUrl } from '../src/storage/database';

const ROOT = resolve(__dirname, '..');

export interface BenchSettings {
  durationSeconds: number;
  warmupSeconds: number;
  repetitions: number;
  connections: number;
  threads: number;
  /** Seconds between runs: longer than the poll interval, so no code is polled too soon. */
  pauseSeconds: number;
  pollInterval: number;
  scenarios: ScenarioName[];
  databases: ('sqlite' | 'mysql')[];
  /** Databases that also run on the scale dataset. */
  scale: ('sqlite' | 'mysql')[];
  /** Databases seeded beforehand with `npm run bench:seed -- --scale`, reused instead of seeding. */
  scaleDatabases: Partial<Record<'sqlite' | 'mysql', string>>;
  output: string;
  /** Extra node flags for the server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  serverNodeFlags: string[];
  /** Read the scale SQLite file into the page cache before each scenario (page-cache.ts). */
  scaleReadFile: boolean;
  /** Measure the peer, node-oidc-provider, in the same run (bench/peer-oidc-provider.mjs). */
  peer: boolean;
  /**
   * Each repetition warms up on the connections it then measures (one wrk run; wrk only),
   * instead of one warm-up run of its own before the repetitions.
   */
  warmConnections: boolean;
}

const numberFromEnv = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got ${value}`);
  return n;
};

export function settingsFromEnv(env = process.env): BenchSettings {
  const scenarios = (env.BENCH_SCENARIOS ? env.BENCH_SCENARIOS.split(',') : [...SCENARIO_NAMES]) as ScenarioName[];
  for (const name of scenarios) if (!SCENARIO_NAMES.includes(name)) throw new Error(`BENCH_SCENARIOS: unknown scenario ${name}; known: ${SCENARIO_NAMES.join(', ')}`);
  const databases = (env.BENCH_DATABASES ? env.BENCH_DATABASES.split(',') : env.MYSQL_URL ? ['sqlite', 'mysql'] : ['sqlite']) as ('sqlite' | 'mysql')[];
  if (databases.includes('mysql') && !env.MYSQL_URL) throw new Error('BENCH_DATABASES names mysql but MYSQL_URL is not set');
  return {
    durationSeconds: numberFromEnv(env, 'BENCH_DURATION', 10),
    warmupSeconds: numberFromEnv(env, 'BENCH_WARMUP', 3),
    warmConnections: env.BENCH_WARM_CONNECTIONS !== '0',
    repetitions: Math.max(1, numberFromEnv(env, 'BENCH_REPETITIONS', 2)),
    connections: numberFromEnv(env, 'BENCH_CONNECTIONS', 50),
    threads: Math.max(1, numberFromEnv(env, 'BENCH_THREADS', 1)),
    pauseSeconds: numberFromEnv(env, 'BENCH_PAUSE', 1.5),
    pollInterval: 1,
    scenarios,
    databases,
    // `1`: every database; or a list, e.g. `sqlite` (seeding MySQL at scale takes long).
    scale: env.BENCH_SCALE === '1' ? databases : ((env.BENCH_SCALE ?? '').split(',').filter(Boolean) as ('sqlite' | 'mysql')[]),
    scaleDatabases: {
      ...(env.BENCH_SCALE_SQLITE ? { sqlite: env.BENCH_SCALE_SQLITE } : {}),
      ...(env.BENCH_SCALE_MYSQL ? { mysql: env.BENCH_SCALE_MYSQL } : {}),
    },
    output: resolve(env.BENCH_OUTPUT ?? join(ROOT, 'bench', 'results', 'latest.json')),
    serverNodeFlags: env.BENCH_SERVER_NODE_FLAGS ? env.BENCH_SERVER_NODE_FLAGS.split(' ').filter(Boolean) : [],
    scaleReadFile: env.BENCH_SCALE_READ_FILE !== '0',
    peer: env.BENCH_PEER !== '0',
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

interface Running {
  child: ChildProcess;
  pid: number;
  url: string;
  stop: () => Promise<void>;
}

/**
 * Starts `node <start script's flags> <flags> <file>` on a free port and waits until it answers.
 * The bench's own TypeScript files (the hello-worlds) run through tsx; the server is the build.
 */
async function startProcess(file: string, env: Record<string, string>, logFile: string, probePath: string, nodeFlags: string[] = []): Promise<Running> {
  const port = await freePort();
  const log = openSync(logFile, 'a');
  const loader = file.endsWith('.ts') ? ['--require', 'tsx/cjs'] : [];
  const child = spawn(process.execPath, [...startScriptNodeFlags(), ...loader, ...nodeFlags, file], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`${file} exited at start; see ${logFile}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL'); // not left running behind the rest of the run
      throw new Error(`${file} did not answer within 60 s; see ${logFile}`);
    }
    try {
      const res = await fetch(url + probePath);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const stop = async () => {
    if (exited) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(12_000)]);
    if (!exited) child.kill('SIGKILL');
  };
  return { child, pid: child.pid!, url, stop };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Context {
  settings: BenchSettings;
  loader: Loader;
  workDir: string;
  log: (text: string) => void;
}

/** A server and the scenario to load it with, one of those measured in turn. */
interface Subject {
  target: Running;
  makeScenario: (run: number, runs: number) => Scenario;
  /** Before each of its runs and its warm-up: the log's heading, the page cache filled. */
  beforeRun?: () => void;
}

type Repetition = LoadResult & { cpuPercent: number; cpuSeconds: number; stealPercent: number };

/** Warm-up, then the repetitions, each measured for server CPU and peak RSS. */
async function measure(ctx: Context, target: Running, makeScenario: (run: number, runs: number) => Scenario): Promise<ScenarioResult> {
  const [result] = await measureInTurn(ctx, [{ target, makeScenario }]);
  return result!;
}

/**
 * `measure` for several servers taking turns, repetition by repetition: the first's run 1, the
 * second's run 1, the first's run 2 ... so that a stretch of seconds in which the machine is
 * slower falls on all of them alike (scale ÷ small compares two of them).
 */
async function measureInTurn(ctx: Context, subjects: Subject[]): Promise<ScenarioResult[]> {
  const { settings } = ctx;
  const runs = settings.repetitions + 1;
  // Warm connections: each repetition's warm-up is the start of its own run (see LoadSettings).
  const warmInRun = settings.warmConnections && ctx.loader === 'wrk' && settings.warmupSeconds > 0;
  const load = (subject: Subject, run: number, seconds: number) =>
    runLoad(
      ctx.loader,
      subject.target.url,
      subject.makeScenario(run, runs),
      { durationSeconds: seconds, connections: settings.connections, threads: settings.threads, ...(warmInRun ? { warmupSeconds: settings.warmupSeconds } : {}) },
      ctx.workDir,
    );
  if (!warmInRun) {
    for (const subject of subjects) {
      if (settings.warmupSeconds > 0) {
        subject.beforeRun?.();
        const warm = await load(subject, 0, settings.warmupSeconds);
        if (warm.errors > 0) ctx.log(`    warm-up: ${warm.errors} errors, e.g. ${warm.errorSample}`);
        await sleep(settings.pauseSeconds * 1000);
      }
      resetPeakRss(subject.target.pid);
    }
  }
  const reps: Repetition[][] = subjects.map(() => []);
  for (let rep = 1; rep <= settings.repetitions; rep++) {
    for (const [index, subject] of subjects.entries()) {
      subject.beforeRun?.();
      const { pid } = subject.target;
      const running = load(subject, rep, settings.durationSeconds);
      running.catch(() => {}); // awaited below; not "unhandled" while the warm-up is waited out
      // CPU, steal and (after the first warm-up) peak RSS are taken over the measured part only.
      if (warmInRun) {
        await sleep(settings.warmupSeconds * 1000);
        if (rep === 1) resetPeakRss(pid);
      }
      const cpuBefore = cpuSeconds(pid);
      const stealBefore = machineStealSeconds();
      const started = process.hrtime.bigint();
      const result = await running;
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const used = cpuSeconds(pid) - cpuBefore;
      const stealPercent = ((machineStealSeconds() - stealBefore) / (wall * cpus().length)) * 100;
      reps[index]!.push({ ...result, cpuPercent: (used / wall) * 100, cpuSeconds: used, stealPercent });
      ctx.log(
        `    run ${rep}: ${result.requestsPerSecond.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors${result.errors ? ` (e.g. ${result.errorSample})` : ''}, steal ${stealPercent.toFixed(1)} %`,
      );
      await sleep(settings.pauseSeconds * 1000);
    }
  }
  return subjects.map((subject, index) => summarize(reps[index]!, subject.target.pid));
}

/** The figures of a scenario from its repetitions: medians, sums, and the server's peak RSS. */
function summarize(reps: Repetition[], pid: number): ScenarioResult {
  const sample = reps.find((r) => r.errorSample)?.errorSample;
  return {
    requestsPerSecond: median(reps.map((r) => r.requestsPerSecond)),
    p50Ms: median(reps.map((r) => r.p50Ms)),
    p99Ms: median(reps.map((r) => r.p99Ms)),
    errors: reps.reduce((n, r) => n + r.errors, 0),
    requests: reps.reduce((n, r) => n + r.requests, 0),
    cpuPercent: median(reps.map((r) => r.cpuPercent)),
    cpuUsPerRequest: (reps.reduce((n, r) => n + r.cpuSeconds, 0) / Math.max(1, reps.reduce((n, r) => n + r.requests, 0))) * 1e6,
    peakRssMb: peakRssMb(pid),
    stealPercent: median(reps.map((r) => r.stealPercent)),
    runs: reps.map((r) => Math.round(r.requestsPerSecond)),
    ...(sample ? { errorSample: sample } : {}),
  };
}

async function helloWorld(ctx: Context, name: 'koa' | 'node_http' | 'node_http_busy', busyUs = 0): Promise<ScenarioResult> {
  const file = { koa: 'bench/hello-koa.ts', node_http: 'bench/hello-http.ts', node_http_busy: 'bench/busy-http.ts' }[name];
  const server = await startProcess(file, name === 'node_http_busy' ? { BENCH_BUSY_US: String(busyUs) } : {}, join(ctx.workDir, `${name}.log`), '/');
  try {
    ctx.log(`  ${name} hello-world`);
    return await measure(ctx, server, () => HELLO);
  } finally {
    await server.stop();
  }
}

/**
 * The peer, node-oidc-provider, on the scenarios it can answer among those of this run, seeded
 * in memory with the small dataset's secrets.
 */
async function peerBench(ctx: Context): Promise<{ results: Record<string, ScenarioResult> } | { error: string }> {
  const names = ctx.settings.scenarios.filter((name) => (PEER_SCENARIO_NAMES as readonly ScenarioName[]).includes(name));
  const results: Record<string, ScenarioResult> = {};
  if (names.length === 0) return { results };
  const logFile = join(ctx.workDir, 'peer-oidc-provider.log');
  let server: Running;
  try {
    server = await startProcess('bench/peer-oidc-provider.mjs', { BENCH_PEER_DATASET: JSON.stringify(peerDataset(SMALL)) }, logFile, '/.well-known/openid-configuration');
  } catch (err) {
    // A comparison, not the subject: the run goes on without it, and says why.
    const logged = readFileSync(logFile, 'utf8').split('\n');
    const cause = logged.find((line) => /^\w*Error\b/.test(line)) ?? logged.filter(Boolean).at(-1) ?? '';
    const reason = `${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause.trim()})` : ''}`;
    ctx.log(`  peer oidc-provider: not measured: ${reason}`);
    return { error: reason };
  }
  try {
    for (const name of names) {
      ctx.log(`  peer oidc-provider: ${name}`);
      results[name] = await measure(ctx, server, () => peerScenario(name, SMALL)!);
    }
  } finally {
    await server.stop();
  }
  return { results };
}

/** A fresh database for one dataset: a SQLite file in the work directory or a MySQL database. */
async function createDatabase(ctx: Context, dialect: 'sqlite' | 'mysql', label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dialect === 'sqlite') return { url: `sqlite:${join(ctx.workDir, `${label}.sqlite`)}`, drop: async () => {} };
  const server = new URL(process.env.MYSQL_URL!);
  const name = `o2d_bench_${process.pid}_${label}`;
  const admin = knexFactory({
    client: 'mysql2',
    connection: { host: server.hostname, port: Number(server.port || 3306), user: decodeURIComponent(server.username), password: decodeURIComponent(server.password) },
  });
  await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  server.pathname = `/${name}`;
  return {
    url: server.href,
    drop: async () => {
      await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.destroy();
    },
  };
}

/** One dataset's database, seeded or reset, with the server started on it. */
interface OpenDataset {
  dataset: 'small' | 'scale';
  size: DatasetSize;
  databaseUrl: string;
  server: Running;
  close: () => Promise<void>;
}

async function openDataset(ctx: Context, dialect: 'sqlite' | 'mysql', dataset: 'small' | 'scale'): Promise<OpenDataset> {
  const size: DatasetSize = dataset === 'scale' ? SCALE : SMALL;
  const seeded = dataset === 'scale' ? ctx.settings.scaleDatabases[dialect] : undefined;
  const database = seeded ? { url: seeded, drop: async () => {} } : await createDatabase(ctx, dialect, dataset);
  let server: Running | undefined;
  try {
    const started = Date.now();
    if (seeded) {
      ctx.log(`  ${dialect} ${dataset}: reusing the seeded ${withoutCredentials(seeded)}`);
      await resetDataset(database.url);
    } else {
      ctx.log(`  ${dialect} ${dataset}: seeding ${JSON.stringify(size)}`);
      await seed(database.url, size);
    }
    ctx.log(`  ${dialect} ${dataset}: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    server = await startProcess(
      START_ENTRY,
      {
        DATABASE_URL: database.url,
        OAUTH2_SECRET_KEYS: 'bench-secret-key-0123456789abcdef0123456789',
        OAUTH2_POLL_INTERVAL: String(ctx.settings.pollInterval),
      },
      join(ctx.workDir, `server-${dialect}-${dataset}.log`),
      '/.well-known/oauth-authorization-server',
      ctx.settings.serverNodeFlags,
    );
    // Once per server: nothing evicts InnoDB's pages (the SQLite file is read before each scenario).
    if (dataset === 'scale' && dialect === 'mysql' && ctx.settings.scaleReadFile) {
      const warm = await warmBufferPool(parseDatabaseUrl(database.url));
      const sizes = `${warm.tablesMb.toFixed(0)} MB of tables, innodb_buffer_pool_size ${warm.bufferPoolMb.toFixed(0)} MB`;
      ctx.log(
        warm.warmed
          ? `    scanned the lookup indexes into InnoDB's buffer pool in ${warm.seconds.toFixed(1)} s (${sizes})`
          : `    NOT warmed: ${sizes}; the pool cannot hold them, so these figures include reads from disk`,
      );
    }
    const running = server;
    const close = async () => {
      try {
        await running.stop();
      } finally {
        await database.drop();
      }
    };
    return { dataset, size, databaseUrl: database.url, server: running, close };
  } catch (err) {
    await server?.stop();
    await database.drop();
    throw err;
  }
}

/**
 * Every scenario on one database, on the small tables and (when asked) at scale. Both servers
 * run side by side, each idle while the other is loaded, and take turns run by run within each
 * scenario (measureInTurn): scale ÷ small compares figures taken in the same minute, not one
 * table size after the other minutes apart, during which a VM's speed moved by more than the
 * ratio's margin (bench/README.md, thirteenth session).
 */
async function benchDatabase(ctx: Context, dialect: 'sqlite' | 'mysql'): Promise<{ small: Record<string, ScenarioResult>; scale?: Record<string, ScenarioResult> }> {
  const opened: OpenDataset[] = [];
  try {
    opened.push(await openDataset(ctx, dialect, 'small'));
    if (ctx.settings.scale.includes(dialect)) opened.push(await openDataset(ctx, dialect, 'scale'));
    const results: Partial<Record<'small' | 'scale', Record<string, ScenarioResult>>> = {};
    for (const name of ctx.settings.scenarios) {
      const subjects = opened.map(({ dataset, size, databaseUrl, server }): Subject => ({
        target: server,
        makeScenario: (run, runs) => scenario(name, size, run, runs),
        beforeRun: () => {
          ctx.log(`  ${dialect} ${dataset}: ${name}`);
          if (dataset === 'scale' && dialect === 'sqlite' && ctx.settings.scaleReadFile) {
            const file = parseDatabaseUrl(databaseUrl).location;
            const { megabytes, seconds, passes } = readUntilCached(file);
            ctx.log(`    read ${megabytes.toFixed(0)} MB of ${file} into the page cache in ${seconds.toFixed(1)} s${passes > 1 ? ` (${passes} passes)` : ''}`);
          }
        },
      }));
      const measured = await measureInTurn(ctx, subjects);
      for (const [index, { dataset }] of opened.entries()) (results[dataset] ??= {})[name] = measured[index]!;
    }
    return { small: results.small!, ...(results.scale ? { scale: results.scale } : {}) };
  } finally {
    for (const { close } of opened.reverse()) await close();
  }
}

/** A database URL as the log and the report show it: without user and password. */

export async function runBench(settings: BenchSettings, log: (text: string) => void = (t) => console.error(t)): Promise<BenchReport> {
  const loader = chooseLoader();
  const workDir = mkdtempSync(join(tmpdir(), 'o2d-bench-'));
  const ctx: Context = { settings, loader, workDir, log };
  log(`bench: load from ${loader}${loader === 'autocannon' ? ' (wrk is not installed)' : ''}; ${settings.connections} connections, ${settings.warmupSeconds} s warm-up${settings.warmConnections && loader === 'wrk' ? ' at the start of each run, on its connections (BENCH_WARM_CONNECTIONS)' : ''}, ${settings.repetitions} x ${settings.durationSeconds} s; work files in ${workDir}`);
  const started = new Date();
  try {
    buildAsNpmStartDoes(); // the server as `npm start` runs it: dist/, built from this checkout
    const info = await machine(settings.databases.includes('mysql') ? process.env.MYSQL_URL : undefined);
    const baseline: Record<string, ScenarioResult> = {};
    baseline.node_http = await helloWorld(ctx, 'node_http');
    baseline.koa = await helloWorld(ctx, 'koa');
    // The p99 control: node:http spending the CPU a request of a server at the resource target.
    const busyUs = Math.max(0, baseline.koa.cpuUsPerRequest / MINIMUMS.sqlite.resource - baseline.node_http.cpuUsPerRequest);
    baseline.node_http_busy = { ...(await helloWorld(ctx, 'node_http_busy', busyUs)), busyUsPerRequest: busyUs };
    const measuredPeer = settings.peer ? await peerBench(ctx) : undefined;
    const peer = measuredPeer && 'results' in measuredPeer ? measuredPeer.results : undefined;
    const peerError = measuredPeer && 'error' in measuredPeer ? measuredPeer.error : undefined;
    const databases: BenchReport['databases'] = {};
    // What is measured so far, should the run be stopped before the end.
    const writePartial = (partial: object) => {
      mkdirSync(dirname(settings.output), { recursive: true });
      writeFileSync(`${settings.output}.partial`, JSON.stringify({ startedAt: started.toISOString(), machine: info, peer, ...partial }, null, 2) + '\n');
    };
    for (const dialect of settings.databases) {
      databases[dialect] = await benchDatabase(ctx, dialect);
      writePartial({ databases, baseline });
    }
    // The ceiling again at the end: how much the machine drifted during the run.
    baseline.koa_end = await helloWorld(ctx, 'koa');
    const report: BenchReport = {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      loader,
      settings: { ...settings, output: undefined, scaleDatabases: Object.fromEntries(Object.entries(settings.scaleDatabases).map(([dialect, url]) => [dialect, withoutCredentials(url)])) },
      machine: info,
      baseline,
      ...(peer ? { peer } : {}),
      ...(peerError ? { peerError } : {}),
      databases,
      targets: [],
    };
    report.targets = checkTargets(report);
    mkdirSync(dirname(settings.output), { recursive: true });
    writeFileSync(settings.output, JSON.stringify(report, null, 2) + '\n');
    rmSync(`${settings.output}.partial`, { force: true });
    return report;
  } finally {
    if (!process.env.BENCH_KEEP) rmSync(workDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const settings = settingsFromEnv();
  runBench(settings)
    .then((report) => {
      console.log(formatTable(report));
      console.error(`bench: results in ${settings.output}`);
    })
    .catch((err) => {
      console.error('bench failed:', err);
      process.exit(1);
    });
}
