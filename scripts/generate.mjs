#!/usr/bin/env node
// Regenerates the client SDK in generated/ from openapi.yaml. generated/ is build output:
// it is deleted and written whole, never edited by hand. A test runs this script into a
// temporary folder and fails when the result differs from what is committed.
//
// The Activation operations are HTML pages for people, not API calls for devices, so they are
// dropped from the copy of the spec the generator sees, together with the schemas only they use;
// so are Metrics (Prometheus text) and Documentation (Swagger UI and its files).
//
// Usage: node scripts/generate.mjs [outDir]   (default: generated/)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'generated'));
const SDK_EXCLUDED_TAGS = new Set(['Activation', 'Metrics', 'Documentation']);

// Pinned with the generator package (1.0.18-5.0.0-beta2 carries its JAR, so no download).
const GENERATOR = 'typescript-fetch';
const GENERATOR_OPTIONS = [
  'typescriptThreePlus=true',
  'prefixParameterInterfaces=true',
  'modelPropertyNaming=original', // keep OAuth's snake_case wire names
  'supportsES6=true',
].join(',');

function sdkSpec(spec) {
  const copy = structuredClone(spec);
  for (const [path, item] of Object.entries(copy.paths)) {
    for (const method of Object.keys(item)) {
      if (item[method]?.tags?.some((t) => SDK_EXCLUDED_TAGS.has(t))) delete item[method];
    }
    if (Object.keys(item).length === 0) delete copy.paths[path];
  }
  pruneUnreferenced(copy);
  return copy;
}

// Drops components that nothing left in the document refers to, until none remain.
function pruneUnreferenced(doc) {
  const refsIn = (value) => JSON.stringify(value).match(/#\/components\/[^"]+/g) ?? [];
  for (;;) {
    const used = new Set(refsIn(doc.paths));
    for (const [kind, entries] of Object.entries(doc.components)) {
      for (const [name, value] of Object.entries(entries)) {
        const self = `#/components/${kind}/${name}`;
        for (const ref of refsIn(value)) if (ref !== self) used.add(ref);
      }
    }
    let removed = 0;
    for (const kind of ['schemas', 'responses', 'headers']) {
      for (const name of Object.keys(doc.components[kind] ?? {})) {
        if (!used.has(`#/components/${kind}/${name}`)) {
          delete doc.components[kind][name];
          removed++;
        }
      }
    }
    if (removed === 0) return;
  }
}

const spec = loadYaml(readFileSync(join(root, 'openapi.yaml'), 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'o2d-generate-'));
try {
  const input = join(work, 'openapi.sdk.json');
  writeFileSync(input, JSON.stringify(sdkSpec(spec), null, 2));
  rmSync(outDir, { recursive: true, force: true });
  execFileSync(
    join(root, 'node_modules', '.bin', 'openapi-generator'),
    ['generate', '-g', GENERATOR, '-i', input, '-o', outDir, '--additional-properties', GENERATOR_OPTIONS],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  console.log(`generated ${GENERATOR} SDK in ${outDir}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
