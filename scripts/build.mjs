#!/usr/bin/env node
// `npm run build` (and before `npm start`): the server compiled by tsc into dist/, with the
// files it reads beside its code (views, styles, messages, the docs page) and the spec.
//
// Why not run src/ through tsx as the tests do: tsx compiles with esbuild's keepNames, which
// adds a __name() call that defines a property on every function and closure as it is created
// (per request, for the closures of the hot paths), and it turns source maps on and keeps them
// and the compiled sources in memory. Under the bench's mixed load (small tables, 2 alternating
// servers, 3 runs of 8 s each) the compiled server spent 105-124 µs a request against 118-137
// under tsx, and its peak RSS was 10-12 MB lower (bench/README.md, twelfth session). How the
// CPU time splits between those causes was not measured; __name itself was 0.4 % of a profile.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
rmSync(out, { recursive: true, force: true }); // no file of an older build left behind
const tsc = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json'), '--pretty', 'false'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error(`build: tsc failed (exit ${tsc.status ?? tsc.signal}); nothing was started`);
  process.exit(1);
}
cpSync(join(root, 'src'), join(out, 'src'), { recursive: true, filter: (path) => statSync(path).isDirectory() || !path.endsWith('.ts') });
copyFileSync(join(root, 'openapi.yaml'), join(out, 'openapi.yaml'));
