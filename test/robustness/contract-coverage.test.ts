/**
 * Every operation of openapi.yaml, and every response status each one declares, must be
 * exercised by some test of the suite. test/support/contract.ts records the operationId+status
 * pair of every response the suite receives; this file compares them with the spec once all
 * tests have run.
 *
 * Coverage is only known at the end of the run, and mocha runs files in path order, so the
 * check is a root-level `after()` hook (a top-level `after` in a spec file belongs to mocha's
 * root suite and runs after every test of the run).
 *
 * When it enforces (so that running one file stays possible):
 *   - CONTRACT_COVERAGE=1: always;
 *   - CONTRACT_COVERAGE=0: never;
 *   - otherwise only when the run is the whole suite: the spec files mocha was given (parsed
 *     from its own command line by its own option loader) include every `spec` glob of
 *     .mocharc.json, and no --grep / --fgrep narrows the run. `npx mocha` and `npm test` are
 *     whole runs; `npx mocha --no-config ... test/x.test.ts` is not.
 * When it does not enforce it records no figures, and the robustness table says "whole suite
 * only".
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, normalize } from 'node:path';
import OpenAPIBackend from 'openapi-backend';
import { loadSpec } from '../../src/app';
import { observedPairs } from '../support/contract';
import { setFigure } from '../support/robustness';

/**
 * Declared responses that no request can produce, with the reason. Each is left out of the
 * check; each is a mismatch between openapi.yaml and the server, to be fixed in one of them.
 */
export const UNPRODUCIBLE: Record<string, string> = {
  // Every declared response can be produced today; a response the server cannot give belongs
  // out of openapi.yaml rather than in this list.
};

interface MochaArgs {
  _?: unknown[];
  grep?: unknown;
  fgrep?: unknown;
}

/** Whether this mocha process runs the whole suite (see the header comment). */
export function isWholeSuiteRun(): { enforce: boolean; why: string } {
  const flag = process.env.CONTRACT_COVERAGE;
  if (flag === '1') return { enforce: true, why: 'CONTRACT_COVERAGE=1' };
  if (flag === '0') return { enforce: false, why: 'CONTRACT_COVERAGE=0' };
  try {
    if (!/mocha/.test(process.argv[1] ?? '')) return { enforce: false, why: 'not started by the mocha CLI' };
    const require = createRequire(__filename);
    const { loadOptions } = require('mocha/lib/cli/options.cjs') as { loadOptions(argv: string[]): MochaArgs };
    const args = loadOptions(process.argv.slice(2));
    if (args.grep !== undefined || args.fgrep !== undefined) return { enforce: false, why: 'the run is narrowed by --grep/--fgrep' };
    const given = new Set((args._ ?? []).map((s) => normalize(String(s))));
    const rc = JSON.parse(readFileSync(join(process.cwd(), '.mocharc.json'), 'utf8')) as { spec?: string | string[] };
    const suite = ([] as string[]).concat(rc.spec ?? []).map((s) => normalize(s));
    if (suite.length === 0) return { enforce: false, why: '.mocharc.json names no spec' };
    const missing = suite.filter((s) => !given.has(s));
    return missing.length === 0
      ? { enforce: true, why: `the run includes ${suite.join(', ')}` }
      : { enforce: false, why: `the run does not include ${missing.join(', ')}` };
  } catch (err) {
    return { enforce: false, why: `cannot read mocha's arguments: ${String(err)}` };
  }
}

/** "operationId status" for every response of every operation, from the dereferenced spec. */
export async function declaredPairs(): Promise<{ operations: string[]; pairs: string[] }> {
  // No validation: only the (dereferenced) document is needed, not request validators.
  const api = new OpenAPIBackend({ definition: loadSpec(), validate: false, apiRoot: '/' });
  await api.init();
  const operations: string[] = [];
  const pairs: string[] = [];
  for (const op of api.router.getOperations()) {
    operations.push(op.operationId!);
    for (const status of Object.keys(op.responses ?? {})) pairs.push(`${op.operationId} ${status}`);
  }
  return { operations, pairs };
}

after('contract coverage: every operation and declared response of openapi.yaml is exercised', async function () {
  const { enforce, why } = isWholeSuiteRun();
  if (!enforce) {
    console.log(`  (contract coverage not checked: ${why})`);
    return;
  }
  const { operations, pairs } = await declaredPairs();
  const seen = observedPairs();
  const checked = pairs.filter((p) => !(p in UNPRODUCIBLE));
  const coveredOps = operations.filter((op) => [...seen].some((p) => p.startsWith(`${op} `)));
  const covered = checked.filter((p) => seen.has(p));
  setFigure('operationsDeclared', operations.length);
  setFigure('operationsCovered', coveredOps.length);
  setFigure('responsesDeclared', pairs.length);
  setFigure('responsesCovered', pairs.filter((p) => seen.has(p)).length);

  const stale = Object.keys(UNPRODUCIBLE).filter((p) => !pairs.includes(p) || seen.has(p));
  const uncoveredOps = operations.filter((op) => !coveredOps.includes(op));
  const uncovered = checked.filter((p) => !seen.has(p));
  const problems = [
    ...uncoveredOps.map((op) => `operation ${op} is never called`),
    ...uncovered.map((p) => `response ${p} is never received`),
    ...stale.map((p) => `UNPRODUCIBLE lists ${p}, but it is ${pairs.includes(p) ? 'received after all' : 'not declared'}: remove it`),
  ];
  if (problems.length > 0) {
    throw new Error(
      `contract coverage: ${covered.length} of ${checked.length} checked responses exercised; not covered:\n  ${problems.join('\n  ')}`,
    );
  }
});
