/**
 * Puts load on a URL: wrk (the Debian package) when it is installed, else autocannon, driven
 * by the same scenario description. A scenario is a weighted mix of request kinds; each kind
 * walks an index range whose index fills the `{i}` of its templates (9 digits), and the
 * answers that count as success are named by status and RFC error code.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RequestKind {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  weight: number;
  /** First index and how many: the kind walks [start, start + count) round-robin. */
  start: number;
  count: number;
  /** Each index at most once (e.g. an approved device code is exchanged once). */
  once?: boolean;
}

export interface Scenario {
  name: string;
  kinds: RequestKind[];
  /** `"<status> <error code>"`, the code empty for answers without one: `"200 "`, `"400 slow_down"`. */
  accept: string[];
  /** A 200 counts only if its body contains this. */
  okBody?: string;
}

export interface LoadSettings {
  durationSeconds: number;
  connections: number;
  threads: number;
  /**
   * A warm-up on the measured connections, first in the same run (wrk only): one connection
   * a wrk thread, each request timed by scenario.lua, and only those sent after it counted.
   */
  warmupSeconds?: number;
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers that were not accepted, plus socket errors and timeouts. */
  errors: number;
  errorSample: string;
}

export type Loader = 'wrk' | 'autocannon';

export function chooseLoader(wanted = process.env.BENCH_LOADER): Loader {
  if (wanted === 'autocannon') return 'autocannon';
  const found = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (found.error) {
    if (wanted === 'wrk') throw new Error('BENCH_LOADER=wrk but wrk is not installed (apt-get install wrk)');
    return 'autocannon';
  }
  return 'wrk';
}

const SCRIPT = join(__dirname, 'scenario.lua');

function luaString(text: string): string {
  return JSON.stringify(text); // JSON string escapes are valid Lua escapes for this ASCII text
}

function luaScenario(scenario: Scenario, threads: number, warmupSeconds = 0): string {
  const kinds = scenario.kinds.map((k) => {
    const headers = Object.entries(k.headers ?? {}).map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`);
    return `{ method = ${luaString(k.method)}, path = ${luaString(k.path)}, body = ${k.body === undefined ? 'nil' : luaString(k.body)}, headers = { ${headers.join(', ')} }, weight = ${k.weight}, start = ${k.start}, count = ${k.count}, once = ${k.once ? 'true' : 'false'} }`;
  });
  const accept = scenario.accept.map((a) => `[${luaString(a)}] = true`);
  const warmup = warmupSeconds > 0 ? `\n  warmup_us = ${Math.round(warmupSeconds * 1e6)},` : '';
  return `return {\n  threads = ${threads},${warmup}\n  ok_body = ${scenario.okBody === undefined ? 'nil' : luaString(scenario.okBody)},\n  accept = { ${accept.join(', ')} },\n  kinds = {\n    ${kinds.join(',\n    ')}\n  }\n}\n`;
}

async function runWrk(url: string, scenario: Scenario, settings: LoadSettings, workDir: string): Promise<LoadResult> {
  const config = join(workDir, `${scenario.name}.scenario.lua`);
  const warmup = settings.warmupSeconds ?? 0;
  // Warm connections: one connection a thread, so that the script can time each request.
  const threads = warmup > 0 ? settings.connections : settings.threads;
  writeFileSync(config, luaScenario(scenario, threads, warmup));
  const args = ['-t', String(threads), '-c', String(settings.connections), '-d', `${settings.durationSeconds + warmup}s`, '--timeout', '5s', '-s', SCRIPT, url, '--', config];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const line = output.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`wrk printed no result:\n${output}`);
  const r = JSON.parse(line.slice('BENCH_RESULT '.length));
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    durationSeconds: seconds,
    requestsPerSecond: r.requests / seconds,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors: r.bad + r.socket_errors + r.timeouts,
    errorSample: r.bad_sample,
  };
}

/** The same walk as scenario.lua, for autocannon (one generator shared by all connections). */
function requestGenerator(scenario: Scenario) {
  const schedule = scenario.kinds.flatMap((k, i) => Array<number>(k.weight).fill(i));
  let stride = 7;
  while (schedule.length % stride === 0 && stride < schedule.length) stride += 2;
  const order = schedule.map((_, i) => schedule[(i * stride) % schedule.length]!);
  const used = scenario.kinds.map(() => 0);
  let position = 0;
  const fill = (text: string | undefined, index: number) => text?.replace('{i}', String(index).padStart(9, '0'));
  return () => {
    let k = order[position++ % order.length]!;
    if (scenario.kinds[k]!.once && used[k]! >= scenario.kinds[k]!.count) k = 0;
    const kind = scenario.kinds[k]!;
    const index = kind.start + (used[k]! % kind.count);
    used[k]!++;
    const headers = Object.fromEntries(Object.entries(kind.headers ?? {}).map(([n, v]) => [n, fill(v, index)!]));
    if (kind.body !== undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded';
    return { method: kind.method, path: fill(kind.path, index)!, headers, body: fill(kind.body, index) };
  };
}

async function runAutocannon(url: string, scenario: Scenario, settings: LoadSettings): Promise<LoadResult> {
  const autocannon = (await import('autocannon')).default;
  const next = requestGenerator(scenario);
  const accept = new Set(scenario.accept);
  let bad = 0;
  let sample = '';
  const judge = (status: number, body: string) => {
    const code = /"error":"([\w]+)"/.exec(body)?.[1] ?? '';
    let ok = accept.has(`${status} ${code}`);
    if (ok && status === 200 && scenario.okBody && !body.includes(scenario.okBody)) ok = false;
    if (!ok) {
      bad++;
      if (!sample) sample = `${status} ${body.slice(0, 200)}`;
    }
  };
  const result = await autocannon({
    url,
    connections: settings.connections,
    duration: settings.durationSeconds,
    timeout: 5,
    requests: [{ setupRequest: (req: object) => ({ ...req, ...next() }), onResponse: (status: number, body: string) => judge(status, body) }],
  } as never);
  const r = result as unknown as { requests: { total: number }; duration: number; latency: { p50: number; p99: number }; errors: number; timeouts: number };
  return {
    requests: r.requests.total,
    durationSeconds: r.duration,
    requestsPerSecond: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: bad + r.errors + r.timeouts,
    errorSample: sample,
  };
}

export function runLoad(loader: Loader, url: string, scenario: Scenario, settings: LoadSettings, workDir: string): Promise<LoadResult> {
  return loader === 'wrk' ? runWrk(url, scenario, settings, workDir) : runAutocannon(url, scenario, settings);
}
