#!/usr/bin/env node
// Runs before `npm start` and `npm test`: on a fresh clone, installs the locked dependencies
// first, so the quick start is just those two commands. Does nothing once installed.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.error('first run: installing dependencies (npm ci), about two minutes');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
