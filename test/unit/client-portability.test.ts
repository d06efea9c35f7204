/** oauth2-devices/client must run wherever fetch does: no Node-only module in its imports. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { expect } from 'chai';

const root = resolve(__dirname, '..', '..');

/** Every module a file imports, following relative imports inside the given folders. */
function importsOf(dir: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, name), 'utf8');
    found.set(name, [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!));
  }
  return found;
}

describe('client layer portability', () => {
  it('src/client and generated/ import no Node built-in and no package but their own files', () => {
    const nodeOnly = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    let checked = 0;
    for (const dir of ['src/client', 'generated', 'generated/apis', 'generated/models']) {
      for (const [file, modules] of importsOf(join(root, dir))) {
        for (const module of modules) {
          expect(nodeOnly.has(module), `${dir}/${file} imports ${module}`).to.equal(false);
          expect(module.startsWith('.'), `${dir}/${file} imports the package ${module}`).to.equal(true);
          checked++;
        }
      }
    }
    expect(checked, 'imports found (the scan itself works)').to.be.greaterThan(20);
  });
});
