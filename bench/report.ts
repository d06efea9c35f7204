/**
 * The bench's results: every figure also as a ratio to the bare Koa hello-world of the same
 * run (the mean of its runs at the start and at the end), the targets of issue #8 checked,
 * and a table for people.
 */
import type { MachineInfo } from './machine';

export interface ScenarioResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  requests: number;
  /** Server CPU: utime + stime over the run, as % of one core. */
  cpuPercent: number;
  /**
   * Server CPU time per request, in µs: unlike requests/s, hardly moved by other work on the
   * machine, so the better figure to compare on a busy machine.
   */
  cpuUsPerRequest: number;
  peakRssMb: number;
  /**
   * CPU time the hypervisor took from this VM during the runs, as % of all its cores (median of
   * the repetitions). Absent in reports written before it was measured.
   */
  stealPercent?: number;
  /** Requests/s of each repetition. */
  runs: number[];
  errorSample?: string;
  /** The p99 control (bench/busy-http.ts): the CPU time it spun on each request, in µs. */
  busyUsPerRequest?: number;
}

export interface TargetCheck {
  target: string;
  measured: number;
  limit: number;
  met: boolean;
  /** How far from the limit, in % of the limit (negative: missed by that much). */
  marginPercent: number;
  /** What else the reader needs to judge it (the p99 control's figure, for the p99 targets). */
  context?: string;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  loader: string;
  settings: object;
  machine: MachineInfo;
  baseline: Record<string, ScenarioResult>;
  /** The peer, node-oidc-provider 9 in memory (bench/peer-oidc-provider.mjs), on the scenarios it answers. */
  peer?: Record<string, ScenarioResult>;
  /** Why the peer was not measured, when it could not start. */
  peerError?: string;
  databases: Partial<Record<'sqlite' | 'mysql', { small: Record<string, ScenarioResult>; scale?: Record<string, ScenarioResult> }>>;
  targets: TargetCheck[];
}

/** A figure of bare Koa in this run: the mean of its runs at the start and the end. */
export function koaFigure(report: Pick<BenchReport, 'baseline'>, figure: (r: ScenarioResult) => number): number {
  const runs = [report.baseline.koa, report.baseline.koa_end].filter((r): r is ScenarioResult => r !== undefined);
  return runs.reduce((sum, r) => sum + figure(r), 0) / runs.length;
}

/** Requests/s of bare Koa in this run. */
export function koaCeiling(report: Pick<BenchReport, 'baseline'>): number {
  return koaFigure(report, (r) => r.requestsPerSecond);
}



/** Issue #8's minimum requests/s, as ratios to bare Koa. */
export const MINIMUMS: Record<'sqlite' | 'mysql', Record<string, number>> = {
  sqlite: { poll_pending: 0.15, poll_slow_down: 0.15, resource: 0.18, device_authorization: 0.12, introspection: 0.15 },
  mysql: { poll_pending: 0.08, poll_slow_down: 0.08, resource: 0.12 },
};

/** The targets of issue #8 that this run's figures can speak to. */
export function checkTargets(report: Pick<BenchReport, 'baseline' | 'databases'>): TargetCheck[] {
  const koa = koaCeiling(report);
  const checks: TargetCheck[] = [];
  const atLeast = (target: string, measured: number, limit: number) =>
    checks.push({ target, measured, limit, met: measured >= limit, marginPercent: ((measured - limit) / limit) * 100 });
  const below = (target: string, measured: number, limit: number) =>
    checks.push({ target, measured, limit, met: measured < limit, marginPercent: ((limit - measured) / limit) * 100 });
  const control = report.baseline.node_http_busy;
  const p99Context = control ? `node_http_busy, at the CPU a request of ${MINIMUMS.sqlite.resource} x Koa: p99 ${control.p99Ms.toFixed(2)} ms` : undefined;
  for (const dialect of ['sqlite', 'mysql'] as const) {
    const db = report.databases[dialect];
    if (!db) continue;
    for (const [name, limit] of Object.entries(MINIMUMS[dialect])) {
      const r = db.small[name];
      if (r) atLeast(`${dialect} ${name} x Koa`, r.requestsPerSecond / koa, limit);
    }
    for (const [dataset, results] of Object.entries(db)) {
      for (const [name, r] of Object.entries(results ?? {})) {
        if (dialect === 'sqlite') {
          below(`${dialect} ${dataset} ${name} p99 ms`, r.p99Ms, 15);
          if (p99Context) checks.at(-1)!.context = p99Context;
        }
        below(`${dialect} ${dataset} ${name} peak RSS MB`, r.peakRssMb, 150);
      }
    }
    for (const [name, r] of Object.entries(db.scale ?? {})) {
      const small = db.small[name];
      if (small) atLeast(`${dialect} scale/small ${name}`, r.requestsPerSecond / small.requestsPerSecond, 0.8);
    }
  }

  return checks;
}

/** CPU µs per request of bare Koa in this run. */
export function koaCpuPerRequest(report: Pick<BenchReport, 'baseline'>): number {
  return koaFigure(report, (r) => r.cpuUsPerRequest);
}

export interface PeerRatio {
  dialect: string;
  scenario: string;
  /** This server's requests/s ÷ the peer's. */
  requests: number;
  /** The peer's CPU a request ÷ this server's. */
  cpu: number;
}

/**
 * This server against the peer in the same run, per database and scenario: requests/s of this
 * server ÷ the peer's, and the peer's CPU a request ÷ this server's. The issue puts its ratio
 * targets at 1.3-1.4 x the peer's figures.
 */
export function againstPeer(report: Pick<BenchReport, 'peer' | 'databases'>): PeerRatio[] {
  const ratios: PeerRatio[] = [];
  for (const [dialect, db] of Object.entries(report.databases)) {
    for (const [scenario, peer] of Object.entries(report.peer ?? {})) {
      const ours = db?.small[scenario];
      if (ours) ratios.push({ dialect, scenario, requests: ours.requestsPerSecond / peer.requestsPerSecond, cpu: peer.cpuUsPerRequest / ours.cpuUsPerRequest });
    }
  }
  return ratios;
}

const COLUMNS = [
  'scenario', 'req/s', 'x Koa', 'p50 ms', 'p50 ÷ Koa', 'p99 ms', 'p99 ÷ Koa', 'errors', 'CPU %', 'CPU µs/req', 'Koa CPU/req ÷ this',
  'peak RSS MB', 'RSS ÷ Koa', 'scale/small', 'steal %',
];

const pad = (text: string, width: number, right = false) => (right ? text.padStart(width) : text.padEnd(width));

export function formatTable(report: BenchReport): string {
  const koa = koaCeiling(report);
  const koaCpu = koaCpuPerRequest(report);
  // The issue asks for every figure as a ratio to bare Koa of the same run. Latencies and
  // memory are given as multiples of Koa's, so for them higher is worse.
  const [koaP50, koaP99, koaRss] = [koaFigure(report, (r) => r.p50Ms), koaFigure(report, (r) => r.p99Ms), koaFigure(report, (r) => r.peakRssMb)];
  const m = report.machine;
  const lines = [
    `Machine: ${m.cores} cores, ${m.cpuModel}, ${m.memoryGb} GB; Node ${m.node}; SQLite ${m.sqlite}${m.mysql ? `; MariaDB/MySQL ${m.mysql}` : ''}; load ${m.loader}; load average at start ${m.loadAverageAtStart}`,
    `Run: ${report.startedAt}; ${JSON.stringify(report.settings)}`,
    `Bare Koa ceiling of this run: ${koa.toFixed(0)} req/s (x Koa = requests/s divided by it), ${koaCpu.toFixed(0)} µs of server CPU per request`,
    ...(report.baseline.node_http_busy?.busyUsPerRequest === undefined
      ? []
      : [`p99 control: node_http_busy spins ${report.baseline.node_http_busy.busyUsPerRequest.toFixed(0)} µs a request, the CPU a request of a server at ${MINIMUMS.sqlite.resource} x Koa (bench/busy-http.ts)`]),
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
  ];
  const row = (label: string, r: ScenarioResult, scaleRatio?: number) =>
    lines.push(
      `| ${[
        pad(label, 34),
        pad(r.requestsPerSecond.toFixed(0), 6, true),
        (r.requestsPerSecond / koa).toFixed(3),
        r.p50Ms.toFixed(2),
        (r.p50Ms / koaP50).toFixed(1),
        r.p99Ms.toFixed(2),
        (r.p99Ms / koaP99).toFixed(1),
        String(r.errors),
        r.cpuPercent.toFixed(0),
        r.cpuUsPerRequest.toFixed(0),
        (koaCpu / r.cpuUsPerRequest).toFixed(3),
        r.peakRssMb.toFixed(0),
        (r.peakRssMb / koaRss).toFixed(2),
        scaleRatio === undefined ? '' : scaleRatio.toFixed(2),
        r.stealPercent === undefined ? '' : r.stealPercent.toFixed(1),
      ].join(' | ')} |`,
    );
  for (const [name, r] of Object.entries(report.baseline)) row(`bare ${name}`, r);
  for (const [name, r] of Object.entries(report.peer ?? {})) row(`peer oidc-provider ${name}`, r);
  for (const [dialect, db] of Object.entries(report.databases)) {
    for (const [dataset, results] of Object.entries(db ?? {})) {
      for (const [name, r] of Object.entries(results ?? {})) {
        const small = dataset === 'scale' ? db?.small[name] : undefined;
        row(`${dialect} ${dataset} ${name}`, r, small ? r.requestsPerSecond / small.requestsPerSecond : undefined);
      }
    }
  }
  const peer = againstPeer(report);
  if (report.peerError) lines.push('', `Peer (node-oidc-provider) not measured: ${report.peerError}`);
  if (peer.length > 0) {
    lines.push('', 'Against the peer (node-oidc-provider 9, in memory, same run): requests/s of this server ÷ the peer\'s (its CPU a request ÷ ours)');
    for (const dialect of new Set(peer.map((p) => p.dialect))) {
      const cells = peer.filter((p) => p.dialect === dialect).map((p) => `${p.scenario} ${p.requests.toFixed(2)} (${p.cpu.toFixed(2)})`);
      lines.push(`  ${dialect}: ${cells.join(', ')}`);
    }
  }
  lines.push('', 'Targets:');
  for (const t of report.targets) {
    lines.push(`  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.measured.toFixed(3)} (limit ${t.limit}; ${t.met ? 'margin' : 'short by'} ${Math.abs(t.marginPercent).toFixed(0)}%${t.context ? `; ${t.context}` : ''})`);
  }
  return lines.join('\n');
}
