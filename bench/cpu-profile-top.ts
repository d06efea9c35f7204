/**
 * The top self-time functions of a V8 .cpuprofile (`node --cpu-prof`), and the same by
 * package, to read what a profile of the server under load shows:
 *
 *   BENCH_SERVER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" BENCH_SCENARIOS=poll_pending npm run bench
 *   npx tsx bench/cpu-profile-top.ts /tmp/prof/*.cpuprofile [how many]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function topSelfTime(profile: { nodes: ProfileNode[]; samples: number[] }, count = 25): string {
  const total = profile.samples.length;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/(src|bench)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? (file.startsWith('src/') ? 'src (this project)' : file.startsWith('node:') || file === '' ? `node / V8 (${functionName || 'native'})`.replace(/\((?!program|garbage|idle).*\)$/, '') : file);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
  }
  const show = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`)
      .join('\n');
  return `${total} samples\n\nby function (self time):\n${show(byFunction, count)}\n\nby package:\n${show(byPackage, 15)}`;
}

if (require.main === module) {
  const [file, count] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/cpu-profile-top.ts <file.cpuprofile> [count]');
    process.exit(2);
  }
  console.log(topSelfTime(JSON.parse(readFileSync(file, 'utf8')), Number(count ?? 25)));
}
