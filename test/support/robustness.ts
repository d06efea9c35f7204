/**
 * Figures the robustness tests measure, gathered in test-output/robustness.json and printed as
 * a table by `npm run test:robustness` (scripts/robustness-table.mjs). Each test adds to the
 * counters it owns; the table shows what the run actually did, never a constant.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type RobustnessFigure =
  | 'operationsCovered'
  | 'operationsDeclared'
  | 'responsesCovered'
  | 'responsesDeclared'
  | 'requestsFuzzed'
  | 'fuzz5xx'
  | 'raceRuns'
  | 'raceSingleWinners'
  | 'outageSecondsSurvived'
  | 'outageRequests503'
  | 'flowsResumedAfterSigkill'
  | 'halfStatesFound';

const FILE = join(process.cwd(), 'test-output', 'robustness.json');

function read(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(FILE, 'utf8'));
  } catch {
    return {};
  }
}

/** Adds `amount` to a figure (use `set` for figures that are not sums). */
export function addFigure(figure: RobustnessFigure, amount: number): void {
  const figures = read();
  figures[figure] = (figures[figure] ?? 0) + amount;
  mkdirSync(join(process.cwd(), 'test-output'), { recursive: true });
  writeFileSync(FILE, JSON.stringify(figures, null, 2));
}

export function setFigure(figure: RobustnessFigure, value: number): void {
  const figures = read();
  figures[figure] = value;
  mkdirSync(join(process.cwd(), 'test-output'), { recursive: true });
  writeFileSync(FILE, JSON.stringify(figures, null, 2));
}
