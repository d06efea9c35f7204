// Mocha's spec reporter plus what CI reads: a last line "N passed, N failed", and
// test-output/summary.json with the counts per database pass (titles start with [sqlite] or
// [mysql]), so .ci/run can fail when the MySQL pass did not run.
'use strict';
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
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
      const skipped = counts.skipped ? `, ${counts.skipped} skipped` : '';
      console.log(`\n${counts.passed} passed, ${counts.failed} failed${skipped}`);
    });
  }
}

module.exports = SummaryReporter;
