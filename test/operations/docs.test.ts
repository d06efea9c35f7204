/**
 * The documentation the server serves: /openapi.yaml (the spec, naming this server in
 * `servers`), /docs (Swagger UI, with a CSP relaxed for that page only) and a fixed list of
 * files under /docs/; hostile names, encoded traversals and prototype names are 404, names
 * over the declared length 400. The page itself is rendered in test/browser/docs.browser.test.ts.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { load as loadYaml } from 'js-yaml';
import { loadSpec, SPEC_PATH } from '../../src/app';
import { TestDatabase } from '../support/databases';
import { startServer, type RunningServer } from '../support/server';

const SWAGGER_UI = dirname(require.resolve('swagger-ui-dist/package.json'));

describe('API documentation served by the server', () => {
  const db = new TestDatabase('sqlite');
  let server: RunningServer;
  before(async () => {
    await db.setup();
    server = await startServer(db.store);
  });
  after(async () => {
    await server?.close();
    await db.teardown();
  });

  it('GET /openapi.yaml is the spec, with servers naming this server', async () => {
    const reply = await server.call('GET', '/openapi.yaml');
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.equal('application/yaml; charset=utf-8');
    const served = loadYaml(reply.text) as ReturnType<typeof loadSpec> & { servers: Array<{ url: string }> };
    expect(served.servers).to.deep.equal([{ url: server.url, description: 'This server' }]);
    const file = loadSpec();
    expect(served.paths).to.deep.equal(file.paths);
    expect(served.components).to.deep.equal(file.components);
    expect(readFileSync(SPEC_PATH, 'utf8')).to.include('url: http://localhost:3000'); // the file itself is unchanged
  });

  it('GET /docs is the Swagger UI page: scripts from this server only, a CSP relaxed for it alone', async () => {
    const page = await server.call('GET', '/docs');
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(page.text).to.include('<script src="docs/swagger-ui-bundle.js"></script>');
    expect(page.text).not.to.match(/<script>|<script [^>]*>[^<]|https?:\/\//);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp.split('; ')).to.include.members(["default-src 'none'", "script-src 'self'", "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'"]);
    expect(csp).not.to.match(/unsafe-eval|unsafe-inline|\*/);
    // Every other response keeps the script-free policy.
    for (const path of ['/activate', '/docs/swagger-ui-bundle.js', '/openapi.yaml', '/healthz']) {
      const other = await server.call('GET', path);
      expect(other.headers.get('content-security-policy'), path).not.to.include('script-src');
    }
  });

  it('GET /docs/{asset} serves exactly the listed files, with their types', async () => {
    const files: Record<string, [string, string]> = {
      'swagger-ui.css': [join(SWAGGER_UI, 'swagger-ui.css'), 'text/css; charset=utf-8'],
      'swagger-ui-bundle.js': [join(SWAGGER_UI, 'swagger-ui-bundle.js'), 'text/javascript; charset=utf-8'],
      'favicon-32x32.png': [join(SWAGGER_UI, 'favicon-32x32.png'), 'image/png'],
      'docs-init.js': [join(__dirname, '..', '..', 'src', 'docs', 'docs-init.js'), 'text/javascript; charset=utf-8'],
    };
    for (const [name, [file, type]] of Object.entries(files)) {
      const response = await fetch(`${server.url}/docs/${name}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(response.status, name).to.equal(200);
      expect(response.headers.get('content-type'), name).to.equal(type);
      expect(bytes.equals(readFileSync(file)), `${name} is the file`).to.equal(true);
      // And through the contract check.
      expect((await server.call('GET', `/docs/${name}`)).status).to.equal(200);
    }
  });

  it('any other name under /docs/ is 404, encoded traversals and prototype names included; a name over 64 characters is 400', async () => {
    const names = ['index.html', 'package.json', 'swagger-ui.js.map', '..%2Fpackage.json', '..%2F..%2Fpackage.json', '%2e%2e', '..%5C..%5Cpackage.json', '%2Fetc%2Fpasswd', '__proto__', 'constructor', 'hasOwnProperty', 'docs-init.js%00.png', 'SWAGGER-UI.CSS'];
    for (const name of names) {
      const reply = await server.call('GET', `/docs/${name}`);
      expect(reply.status, name).to.equal(404);
      expect(reply.json.error, name).to.equal('not_found');
    }
    const long = await server.call('GET', `/docs/${'a'.repeat(65)}`);
    expect(long.status).to.equal(400);
    expect(long.json.error).to.equal('invalid_request');
  });
});
