/**
 * `npm run bench` end to end in its smallest configuration: the hello-worlds and the real
 * server started as processes, the dataset seeded, one scenario loaded, the JSON written with
 * every figure the issue asks for. Only that it runs and reports is checked here: the
 * figures themselves belong to the bench, never to a test.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { runBench, settingsFromEnv } from '../../bench/run';
import { formatTable, type BenchReport } from '../../bench/report';
import { HELLO, PEER_SCENARIO_NAMES, SCENARIO_NAMES, peerScenario, scenario } from '../../bench/scenarios';
import { chooseLoader, runLoad } from '../../bench/load';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { resetDataset, seed } from '../../bench/seed';
import { sha256 } from '../../src/helpers/secrets';
import { accessToken, RANGES, SMALL } from '../../bench/dataset';
import { warmBufferPool } from '../../bench/page-cache';
import { machineStealSeconds, stealSecondsOf } from '../../bench/process-stats';
import { TestDatabase } from '../support/databases';
import { parseDatabaseUrl } from '../../src/storage/database';

/** The bench at its smallest, on SQLite, writing its JSON into `dir`; `more` adds or overrides. */
const tinySettings = (dir: string, more: NodeJS.ProcessEnv) =>
  settingsFromEnv({
    BENCH_DURATION: '1',
    BENCH_WARMUP: '0',
    BENCH_REPETITIONS: '1',
    BENCH_PAUSE: '1.1',
    BENCH_CONNECTIONS: '4',
    BENCH_DATABASES: 'sqlite',
    BENCH_OUTPUT: join(dir, 'latest.json'),
    ...more,
  });

describe('npm run bench', () => {
  it('runs end to end in a tiny configuration and writes its JSON and table', async function () {
    this.timeout(180_000);
    const dir = mkdtempSync(join(tmpdir(), 'o2d-bench-test-'));
    try {
      const settings = tinySettings(dir, { BENCH_SCENARIOS: 'poll_pending' });
      await runBench(settings, () => {});
      const report = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as BenchReport;
      expect(Object.keys(report.baseline)).to.deep.equal(['node_http', 'koa', 'node_http_busy', 'koa_end']);
      expect(report.baseline.node_http_busy!.busyUsPerRequest).to.be.a('number').and.not.NaN;
      expect(report.targets.find((t) => t.target === 'sqlite small poll_pending p99 ms')!.context).to.match(/^node_http_busy, at the CPU a request of 0.18 x Koa: p99 [\d.]+ ms$/);
      const poll = report.databases.sqlite!.small.poll_pending!;
      expect(poll.requests).to.be.greaterThan(0);
      // Every answer was authorization_pending: the interval was respected for every code.
      expect(poll.errors, poll.errorSample).to.equal(0);
      for (const figure of ['requestsPerSecond', 'p50Ms', 'p99Ms', 'cpuPercent', 'cpuUsPerRequest', 'peakRssMb', 'stealPercent'] as const) {
        expect(poll[figure], figure).to.be.a('number').and.not.NaN;
      }
      expect(poll.stealPercent).to.be.at.least(0).and.at.most(100);
      expect(report.machine.cores).to.be.greaterThan(0);
      expect(report.targets.map((t) => t.target)).to.include('sqlite poll_pending x Koa');
      expect(formatTable(report)).to.match(/\| sqlite small poll_pending +\| +\d+ \| [\d.]+ \|/);
      // The peer answered the same polls of the same seeded codes: every one authorization_pending.
      const peerPoll = report.peer!.poll_pending!;
      expect(peerPoll.requests).to.be.greaterThan(0);
      expect(peerPoll.errors, peerPoll.errorSample).to.equal(0);
      expect(formatTable(report)).to.match(/\| peer oidc-provider poll_pending +\| +\d+ \|/);
      expect(formatTable(report)).to.match(/Against the peer .*\n  sqlite: poll_pending [\d.]+ \([\d.]+\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('measures each scenario on the small tables and at scale in turn, run by run, both servers up', async function () {
    this.timeout(180_000);
    const dir = mkdtempSync(join(tmpdir(), 'o2d-bench-scale-'));
    try {
      // A stand-in for the seeded scale database: the small dataset (the scale scenarios walk
      // their ranges from index 0, and a 1-s run stays inside the seeded part of them).
      const scaleUrl = `sqlite:${join(dir, 'scale.sqlite')}`;
      await seed(scaleUrl, SMALL);
      const settings = tinySettings(dir, {
        BENCH_REPETITIONS: '2',
        BENCH_SCENARIOS: 'poll_pending,resource',
        BENCH_SCALE: 'sqlite',
        BENCH_SCALE_SQLITE: scaleUrl,
        BENCH_PEER: '0',
      });
      const lines: string[] = [];
      await runBench(settings, (line) => lines.push(line.trim()));
      const order = lines.filter((line) => /^sqlite (small|scale): (ready|poll_pending|resource)/.test(line)).map((line) => line.replace(/ in [\d.]+ s$/, ''));
      expect(order).to.deep.equal([
        'sqlite small: ready',
        'sqlite scale: ready',
        'sqlite small: poll_pending',
        'sqlite scale: poll_pending',
        'sqlite small: poll_pending',
        'sqlite scale: poll_pending',
        'sqlite small: resource',
        'sqlite scale: resource',
        'sqlite small: resource',
        'sqlite scale: resource',
      ]);
      // The scale file read into the page cache before each of its runs, and only then.
      const reads = lines.filter((line) => /^(sqlite (small|scale): |read )/.test(line)).map((line) => line.replace(/^read (\d+) MB of .* in [\d.]+ s( \(\d passes\))?$/, 'read $1 MB'));
      const seededMb = (statSync(join(dir, 'scale.sqlite')).size / 1024 / 1024).toFixed(0);
      expect(reads.filter((line) => line.startsWith('read'))).to.deep.equal(Array(4).fill(`read ${seededMb} MB`));
      reads.forEach((line, i) => {
        if (line.startsWith('read')) expect(reads[i - 1], 'before the read').to.match(/^sqlite scale: /);
      });
      const report = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as BenchReport;
      for (const dataset of ['small', 'scale'] as const) {
        for (const name of ['poll_pending', 'resource']) {
          const result = report.databases.sqlite![dataset]![name]!;
          expect(result.requests, `${dataset} ${name}`).to.be.greaterThan(0);
          expect(result.runs, `${dataset} ${name}`).to.have.length(2);
          expect(result.errors, `${dataset} ${name}: ${result.errorSample}`).to.equal(0);
        }
      }
      expect(report.targets.map((t) => t.target)).to.include.members(['sqlite scale/small poll_pending', 'sqlite scale/small resource']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a seeded database whose tokens are stored under other keys (seeded by an older bench), before any run', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'o2d-bench-stale-'));
    try {
      const url = `sqlite:${join(dir, 'seeded.sqlite')}`;
      await seed(url, { ...SMALL, pending: 10, approved: 10, consumed: 10, tokens: 10 });
      await resetDataset(url); // as seeded now: accepted
      const db = new Database(join(dir, 'seeded.sqlite'));
      // The first token as an older bench stored it: the whole SHA-256 of its older spelling.
      db.prepare('UPDATE access_tokens SET token_hash = ? WHERE id = ?').run(sha256(`old-${accessToken(RANGES.token)}`), `at${RANGES.token}`);
      db.close();
      let refused: Error | undefined;
      await resetDataset(url).catch((err: Error) => (refused = err));
      expect(refused?.message).to.match(/seeded by an older bench .* seed it again with `npm run bench:seed -- --scale`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the hypervisor\'s steal time from the cpu line of /proc/stat (its 8th figure, in 1/100 s)', () => {
    // A line read on this machine: user nice system idle iowait irq softirq steal guest guest_nice.
    expect(stealSecondsOf('cpu  291154 0 86873 320400 9225 0 29087 12347 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n')).to.equal(123.47);
    expect(() => stealSecondsOf('intr 1 2 3\n')).to.throw(/no steal figure/);
    expect(machineStealSeconds()).to.be.a('number').and.at.least(0);
  });

  it('takes its settings from the environment it is given, numbers included', () => {
    const settings = settingsFromEnv({ BENCH_DURATION: '1', BENCH_WARMUP: '0', BENCH_REPETITIONS: '3', BENCH_CONNECTIONS: '4', BENCH_PAUSE: '1.1' });
    expect(settings).to.include({ durationSeconds: 1, warmupSeconds: 0, repetitions: 3, connections: 4, pauseSeconds: 1.1, warmConnections: true });
    expect(settingsFromEnv({ BENCH_WARM_CONNECTIONS: '0' }).warmConnections).to.equal(false);
    expect(() => settingsFromEnv({ BENCH_DURATION: 'ten' })).to.throw(/BENCH_DURATION must be a number/);
  });

  it('with a warm-up on the measured connections, wrk counts and times only the requests sent after it', async function () {
    this.timeout(60_000);
    if (chooseLoader() !== 'wrk') this.skip(); // the fallback loader has no such mode (wrk: apt-get install wrk)
    let served = 0;
    const server = createServer((_req, res) => {
      served++;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'o2d-bench-warm-'));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runLoad('wrk', `http://127.0.0.1:${port}`, HELLO, { durationSeconds: 1, connections: 4, threads: 1, warmupSeconds: 1 }, dir);
      expect(result.errors, result.errorSample).to.equal(0);
      expect(result.requests).to.be.greaterThan(0);
      // wrk ran 2 s; the figures are the second's: its requests and its length. The warm-up's
      // requests reached the server too (about as many), but are not in them.
      expect(result.durationSeconds).to.be.within(0.5, 1.5);
      expect(served).to.be.greaterThan(1.3 * result.requests);
      expect(result.p50Ms).to.be.greaterThan(0);
      expect(result.p99Ms).to.be.at.least(result.p50Ms);
      // One connection a wrk thread, so that the script can time each request.
      expect(readFileSync(join(dir, 'hello.scenario.lua'), 'utf8')).to.match(/threads = 4,\n  warmup_us = 1000000,/);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown scenario by name', () => {
    expect(() => settingsFromEnv({ BENCH_SCENARIOS: 'poll_pending,fastest' })).to.throw(/unknown scenario fastest/);
  });

  it('loads the peer at its own paths with the same secrets, and only with the scenarios it can answer', () => {
    const paths = Object.fromEntries(SCENARIO_NAMES.map((name) => [name, peerScenario(name, SMALL)?.kinds.map((k) => k.path)]));
    expect(paths).to.deep.equal({
      device_authorization: ['/device/auth'],
      poll_pending: ['/token'],
      poll_slow_down: undefined,
      resource: ['/me'],
      introspection: ['/token/introspection'],
      mixed: undefined,
    });
    for (const name of PEER_SCENARIO_NAMES) {
      const [ours, peers] = [scenario(name, SMALL, 1, 2), peerScenario(name, SMALL)!];
      expect(peers.kinds[0]!.headers, name).to.deep.equal(ours.kinds[0]!.headers);
      expect([peers.kinds[0]!.start, peers.kinds[0]!.count], name).to.deep.equal([ours.kinds[0]!.start, ours.kinds[0]!.count]);
    }
  });

  it('says so under the table when the peer could not be measured, and compares nothing with it', () => {
    const figures = { requestsPerSecond: 1000, p50Ms: 1, p99Ms: 2, errors: 0, requests: 10_000, cpuPercent: 100, cpuUsPerRequest: 100, peakRssMb: 100, runs: [1000] };
    const report = {
      startedAt: '', finishedAt: '', loader: 'wrk', settings: {},
      machine: { cores: 2, cpuModel: 'x', memoryGb: 1, node: 'v20', sqlite: '3', loader: 'wrk', loadAverageAtStart: 0 },
      baseline: { koa: { ...figures, requestsPerSecond: 10_000 } },
      peerError: 'bench/peer-oidc-provider.mjs exited at start',
      databases: { sqlite: { small: { poll_pending: figures } } },
      targets: [],
    } as BenchReport;
    const table = formatTable(report);
    expect(table).to.include('Peer (node-oidc-provider) not measured: bench/peer-oidc-provider.mjs exited at start');
    expect(table).to.not.include('Against the peer');
    expect(table).to.match(/\| sqlite small poll_pending +\| +1000 \| 0\.100 \|/);
  });

  it('gives every figure of a row also as a ratio to bare Koa of the same run (the mean of its start and end runs)', () => {
    const koa = { requestsPerSecond: 10_000, p50Ms: 1, p99Ms: 2, errors: 0, requests: 100_000, cpuPercent: 90, cpuUsPerRequest: 20, peakRssMb: 80, runs: [10_000] };
    const koaEnd = { ...koa, requestsPerSecond: 30_000, p50Ms: 3, p99Ms: 6, cpuUsPerRequest: 60, peakRssMb: 120 };
    const server = { requestsPerSecond: 4000, p50Ms: 5, p99Ms: 12, errors: 0, requests: 40_000, cpuPercent: 100, cpuUsPerRequest: 200, peakRssMb: 125, runs: [4000] };
    const report = {
      startedAt: '', finishedAt: '', loader: 'wrk', settings: {},
      machine: { cores: 2, cpuModel: 'x', memoryGb: 1, node: 'v20', sqlite: '3', loader: 'wrk', loadAverageAtStart: 0 },
      baseline: { koa, koa_end: koaEnd },
      databases: { sqlite: { small: { resource: server } } },
      targets: [],
    } as BenchReport;
    const lines = formatTable(report).split('\n');
    const header = lines.find((l) => l.startsWith('| scenario'))!.split('|').map((c) => c.trim());
    const row = lines.find((l) => l.startsWith('| sqlite small resource'))!.split('|').map((c) => c.trim());
    const cell = (column: string) => row[header.indexOf(column)];
    // Koa: 20,000 req/s, p50 2 ms, p99 4 ms, 40 µs a request, 100 MB (means of the two runs).
    expect(cell('x Koa')).to.equal('0.200');
    expect(cell('p50 ÷ Koa')).to.equal('2.5');
    expect(cell('p99 ÷ Koa')).to.equal('3.0');
    expect(cell('Koa CPU/req ÷ this')).to.equal('0.200');
    expect(cell('RSS ÷ Koa')).to.equal('1.25');
    expect(cell('errors')).to.equal('0');
  });

  it('gives the mixed load a fresh slice of approved codes in every run, within the seeded range', () => {
    const slices = [0, 1, 2].map((run) => scenario('mixed', SMALL, run, 3).kinds.find((k) => k.once)!);
    expect(new Set(slices.map((k) => k.start)).size).to.equal(3);
    const last = slices[2]!;
    expect(last.start + last.count).to.be.at.most(slices[0]!.start + SMALL.approved);
  });

  // The scale run's MySQL warm-up, on a real MariaDB: it scans by the index names the
  // migrations create (a renamed index would fail here, not in a 30-minute scale run).
  (process.env.MYSQL_URL ? it : it.skip)('warms InnoDB by the lookup indexes the migrations create, and says how big the pool and the tables are', async function () {
    this.timeout(60_000);
    const db = new TestDatabase('mysql');
    await db.setup();
    try {
      const warm = await warmBufferPool(parseDatabaseUrl(db.url));
      expect(warm.warmed).to.equal(true);
      expect(warm.bufferPoolMb).to.be.greaterThan(warm.tablesMb);
      expect(warm.tablesMb).to.be.greaterThan(0);
    } finally {
      await db.teardown();
    }
  });
});
