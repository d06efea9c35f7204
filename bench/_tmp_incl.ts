import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const byId = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]));
const total = p.samples.length;
const incl = new Map<string, number>();
function walk(id: number, stack: Set<string>): number {
  const n = byId.get(id);
  let sum = n.hitCount ?? 0;
  const { functionName, url, lineNumber } = n.callFrame;
  const key = `${functionName || '(anon)'} ${url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${lineNumber + 1}`;
  const fresh = !stack.has(key);
  if (fresh) stack.add(key);
  for (const c of n.children ?? []) sum += walk(c, stack);
  if (fresh) { incl.set(key, (incl.get(key) ?? 0) + sum); stack.delete(key); }
  return sum;
}
walk(p.nodes[0].id, new Set());
const re = new RegExp(process.argv[4] ?? 'src/|node_modules/(koa|pino|ajv|prom-client|openapi|raw-body)');
const rows = [...incl].filter(([k]) => re.test(k)).sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 40));
for (const [k, v] of rows) console.log((100 * v / total).toFixed(1).padStart(5) + '%  ' + k);
