/**
 * The API documentation, served by the server itself: `GET /docs` renders openapi.yaml with
 * Swagger UI from the installed swagger-ui-dist package (no CDN, no request to anywhere else),
 * and `GET /openapi.yaml` is the spec. Only the files of a fixed list are served, read once
 * and kept in memory; any other name is 404, so no path can reach outside the list.
 * The page needs scripts, so its Content-Security-Policy is relaxed here, and only here, as
 * little as Swagger UI needs; every other response keeps the server's script-free policy.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NotFound } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';

const SWAGGER_UI = dirname(require.resolve('swagger-ui-dist/package.json'));

/** The only files /docs/{asset} serves: name -> where it is and what it is. */
const ASSETS: Record<string, { file: string; type: string }> = {
  'swagger-ui.css': { file: join(SWAGGER_UI, 'swagger-ui.css'), type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: join(SWAGGER_UI, 'swagger-ui-bundle.js'), type: 'text/javascript; charset=utf-8' },
  'favicon-32x32.png': { file: join(SWAGGER_UI, 'favicon-32x32.png'), type: 'image/png' },
  'docs-init.js': { file: join(__dirname, '..', 'docs', 'docs-init.js'), type: 'text/javascript; charset=utf-8' },
};

/** Scripts, styles and the spec from this server; Swagger UI's icons are data: URLs. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Files are read on first use and kept (they never change while the server runs). */
const cache = new Map<string, Buffer>();
function read(file: string): Buffer {
  let content = cache.get(file);
  if (!content) {
    content = readFileSync(file);
    cache.set(file, content);
  }
  return content;
}

/** GET /docs */
export function showDocs(): OperationHandler {
  const page = join(__dirname, '..', 'docs', 'docs.html');
  return (_c, ctx) => {
    ctx.set('Content-Security-Policy', DOCS_CSP);
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = read(page);
  };
}

/** GET /docs/{asset} */
export function getDocsAsset(): OperationHandler {
  return (c, ctx) => {
    const name = String((c.request.params as Record<string, string>).asset);
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) throw new NotFound('no such documentation file');
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = asset.type;
    ctx.body = read(asset.file);
  };
}

/**
 * The spec as this server serves it: the file, with `servers` naming this server's issuer, so
 * that "Try it out" on /docs calls this server (and stays within the page's connect-src).
 */
export function specForIssuer(specText: string, issuer: string): string {
  return specText.replace(/^servers:\n(?:[ -].*\n)+/m, `servers:\n  - url: ${issuer}\n    description: This server\n`);
}

/** GET /openapi.yaml */
export function getOpenApiSpec(specPath: string, issuer: string): OperationHandler {
  const text = specForIssuer(readFileSync(specPath, 'utf8'), issuer);
  return (_c, ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/yaml; charset=utf-8';
    ctx.body = text;
  };
}
