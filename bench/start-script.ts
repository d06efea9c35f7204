/**
 * How `npm start` runs node: the flags of package.json's start script before its file
 * (`node --max-semi-space-size=8 ... dist/src/main.js` -> ['--max-semi-space-size=8', ...]),
 * and the build its prestart runs, so that the bench measures the server as a user runs it, and
 * tests that look at its garbage collector see the production settings.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');

/** What `npm start` runs: the server compiled by scripts/build.mjs. */
export const START_ENTRY = 'dist/src/main.js';

export function startScriptNodeFlags(): string[] {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  const words = start.split(/\s+/).filter(Boolean);
  if (words[0] !== 'node' || words.at(-1) !== START_ENTRY) throw new Error(`package.json's start script is not 'node <flags> ${START_ENTRY}': ${start}`);
  return words.slice(1, -1);
}

/**
 * `node` arguments that run the server as `npm start` does, with `extraNodeFlags` after the start
 * script's own (for tests that add V8 flags or a preload). Build it first: buildAsNpmStartDoes.
 */
export function npmStartArgs(extraNodeFlags: string[] = []): string[] {
  return [...startScriptNodeFlags(), ...extraNodeFlags, join(ROOT, START_ENTRY)];
}

let built = false;

/**
 * The build `npm start` runs first (scripts/build.mjs), so that dist/ holds this checkout's code.
 * Once per process: the bench and the test files that need it share one build.
 */
export function buildAsNpmStartDoes(): void {
  if (built) return;
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`scripts/build.mjs failed (exit ${build.status ?? build.signal})`);
  built = true;
}
