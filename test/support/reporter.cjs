// Mocha's spec reporter plus what CI reads: a last line "N passed, N failed", and
// test-output/summary.json with the counts per database pass (titles start with [sqlite] or
// [mysql]), so .ci/run can fail when the MySQL pass did not run.
'use strict';
const { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

const ROBUSTNESS_FILE = join(process.cwd(), 'test-output', 'robustness.json');

/** The figures of the robustness tests of this run (test/support/robustness.ts), as a table. */
function robustnessTable() {
  if (!existsSync(ROBUSTNESS_FILE)) return '';
  const f = JSON.parse(readFileSync(ROBUSTNESS_FILE, 'utf8'));
  const show = (v) => (v === undefined ? 'not run' : String(v));
  const rows = [
    ['operations covered', f.operationsDeclared === undefined ? 'not run (whole suite only)' : `${f.operationsCovered} of ${f.operationsDeclared}`],
    ['declared responses covered', f.responsesDeclared === undefined ? 'not run (whole suite only)' : `${f.responsesCovered} of ${f.responsesDeclared}`],
    ['requests fuzzed', show(f.requestsFuzzed)],
    ['5xx seen while fuzzing (must be 0)', show(f.fuzz5xx)],
    ['race runs / single winners', f.raceRuns === undefined ? 'not run (needs MYSQL_URL)' : `${f.raceRuns} / ${f.raceSingleWinners}`],
    ['outage seconds survived', show(f.outageSecondsSurvived)],
    ['503 answers during the outage', show(f.outageRequests503)],
    ['flows resumed after SIGKILL', show(f.flowsResumedAfterSigkill)],
    ['half-states found (must be 0)', show(f.halfStatesFound)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', 'robustness:', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    rmSync(ROBUSTNESS_FILE, { force: true }); // figures are this run's only
    const counts = { passed: 0, failed: 0, skipped: 0, byDatabase: {} };
    const tally = (test, key) => {
      counts[key]++;
      const db = /^\[(\w+)\]/.exec(test.titlePath()[0] ?? '')?.[1];
      if (db) {
        counts.byDatabase[db] ??= { passed: 0, failed: 0, skipped: 0 };
        counts.byDatabase[db][key]++;
      }
    };
    runner.on(EVENT_TEST_PASS, (test) => tally(test, 'passed'));
    runner.on(EVENT_TEST_FAIL, (test) => tally(test, 'failed'));
    runner.on(EVENT_TEST_PENDING, (test) => tally(test, 'skipped'));
    runner.once(EVENT_RUN_END, () => {
      const dir = join(process.cwd(), 'test-output');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'summary.json'), JSON.stringify(counts, null, 2));
      // The spec reporter's epilogue ran first (registered in super()), so this is the last line.
      const table = robustnessTable();
      if (table) console.log(table);
      const skipped = counts.skipped ? `, ${counts.skipped} skipped` : '';
      console.log(`\n${counts.passed} passed, ${counts.failed} failed${skipped}`);
    });
  }
}

module.exports = SummaryReporter;
