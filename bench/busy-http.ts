/**
 * The control of the p99 target: a bare node:http server that spins for a fixed CPU time on
 * every request (BENCH_BUSY_US µs) and does nothing else: no database, no allocation to speak
 * of, no GC, no timers. The bench sets that time so the control costs as much CPU a request as a
 * server serving exactly the resource target (0.18 x Koa). Its p99 under the same 50
 * connections is then what this machine and its load generator give any server at that rate;
 * on the noisy 2-core VMs here it varied from run to run far more than the server's own did.
 */
import { createServer } from 'node:http';

const busyNs = BigInt(Math.round(Number(process.env.BENCH_BUSY_US ?? '0') * 1000));

createServer((_req, res) => {
  const until = process.hrtime.bigint() + busyNs;
  while (process.hrtime.bigint() < until);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '11' });
  res.end('Hello World');
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
