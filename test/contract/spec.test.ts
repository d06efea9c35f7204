/**
 * The spec is the source of truth: it passes its linter, the committed SDK is exactly what the
 * generator makes from it, and the whole project type-checks under the strict tsconfig.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const root = resolve(__dirname, '..', '..');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('openapi.yaml and generated/', function () {
  this.timeout(120_000);

  it('openapi.yaml passes the Redocly linter', async () => {
    const { stdout, stderr } = await run(join(root, 'node_modules', '.bin', 'redocly'), ['lint', 'openapi.yaml', '--format=stylish'], {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    expect(`${stdout}${stderr}`).to.include('valid');
  });

  it('generated/ is exactly what npm run generate makes from openapi.yaml', async () => {
    const out = mkdtempSync(join(tmpdir(), 'o2d-generated-'));
    try {
      await run(process.execPath, [join(root, 'scripts', 'generate.mjs'), out], { cwd: root });
      const committed = join(root, 'generated');
      const want = filesUnder(out).map((f) => relative(out, f)).sort();
      const have = filesUnder(committed).map((f) => relative(committed, f)).sort();
      expect(have, 'file list').to.deep.equal(want);
      for (const file of want) {
        expect(readFileSync(join(committed, file), 'utf8'), file).to.equal(readFileSync(join(out, file), 'utf8'));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('the project type-checks under the strict tsconfig', async () => {
    const { stdout } = await run(process.execPath, [join(root, 'scripts', 'typecheck.mjs')], { cwd: root });
    expect(stdout).to.include('typecheck: ok');
  });
});
