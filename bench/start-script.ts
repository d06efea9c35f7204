/**
 * How `npm start` runs node: the flags of package.json's start script before its file
 * (`node --require tsx/cjs src/main.ts` -> ['--require', 'tsx/cjs']), so that the bench measures
 * the server as a user runs it (the hello-worlds under the same loader), and tests that look at
 * its garbage collector see the production settings.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');

export function startScriptNodeFlags(): string[] {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  const words = start.split(/\s+/).filter(Boolean);
  if (words[0] !== 'node' || words.at(-1) !== 'src/main.ts') throw new Error(`package.json's start script is not 'node <flags> src/main.ts': ${start}`);
  return words.slice(1, -1);
}
