/**
 * No object literal in src/ starts with a spread and goes on (`{ ...a, b }`, `{ ...a, ...b }`).
 * On Node 20's V8 (11.3) such a literal builds a new hidden class on every call: 1.6-3.3 µs
 * against 0.3 µs for `{ b, ...a }` or Object.assign, and the garbage it leaves got request
 * objects promoted to the old generation. Under device authorizations the event's
 * `{ ...body, time, requestId, ip }` alone took the promoted bytes from ~20 B to 3-4.7 KB a
 * request and scavenges from 2.4 to 6-7.6 ms (bench/README.md, eighth session).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { expect } from 'chai';

const root = resolve(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** The text with strings, template literals and comments blanked (same length, same lines). */
function codeOnly(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, (m) => m.replace(/[^\n]/g, ' '));
}

/** Line numbers of object literals whose first member is a spread and that have another member. */
export function spreadFirstLiterals(text: string): number[] {
  const code = codeOnly(text);
  const lines: number[] = [];
  for (const match of code.matchAll(/\{\s*\.\.\./g)) {
    let depth = 0;
    for (let i = match.index!; i < code.length; i++) {
      const ch = code[i];
      if (ch === '{' || ch === '(' || ch === '[') depth++;
      else if (ch === '}' || ch === ')' || ch === ']') {
        if (--depth === 0) break;
      } else if (ch === ',' && depth === 1 && /[^\s}]/.test(code.slice(i + 1).match(/^\s*(.)/)?.[1] ?? '}')) {
        lines.push(code.slice(0, match.index).split('\n').length);
        break;
      }
    }
  }
  return lines;
}

describe('object literals on Node 20', () => {
  it('the check finds a spread followed by members, and only that', () => {
    expect(spreadFirstLiterals('const a = { ...b, c };\nconst d = { ...e,\n  ...f };')).to.deep.equal([1, 2]);
    expect(spreadFirstLiterals("const a = { c, ...b };\nconst { ...rest } = x;\nconst g = { ...h };\nconst s = '{ ...i, j }'; // { ...k, l }")).to.deep.equal([]);
    expect(spreadFirstLiterals('const a = { ...f(x, y) };\nconst b = { ...g({ p, q }), r };')).to.deep.equal([2]);
  });

  it('no object literal in src/ starts with a spread and has more members (V8 11.3 builds a new hidden class each time)', () => {
    const found = sourceFiles(join(root, 'src')).flatMap((file) => spreadFirstLiterals(readFileSync(file, 'utf8')).map((line) => `${relative(root, file)}:${line}`));
    expect(found).to.deep.equal([]);
  });
});
