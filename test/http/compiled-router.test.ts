/**
 * The route table compiled at boot decides exactly as openapi-backend's own router and
 * validator would, request for request: the same operation, 404 and 405 (with the same
 * allowed methods), and the same validation errors for bodies, queries and path parameters.
 * Checked differentially on generated requests against openapi-backend itself.
 */
import { expect } from 'chai';
import * as fc from 'fast-check';
import type { ErrorObject } from 'ajv';
import OpenAPIBackend, { type Operation } from 'openapi-backend';
import { loadSpec } from '../../src/app';
import { compileRoutes, type RouteTable } from '../../src/http/compiled-routes';
import { customizeAjv } from '../../src/http/openapi-router';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let api: OpenAPIBackend;
let routes: RouteTable;
let operations: Operation[];

/** openapi-backend's own answer: an operationId, 404, or 405 with the methods the path has. */
function reference(method: string, path: string): string {
  try {
    return `op ${api.router.matchOperation({ method, path, headers: {} }, true)!.operationId}`;
  } catch (err) {
    if (!String(err).includes('405')) return '404';
    const allowed = METHODS.filter((m) => api.router.matchOperation({ method: m, path, headers: {} })).map((m) => m.toUpperCase());
    return `405 ${allowed.join(',')}`;
  }
}

function compiled(method: string, path: string): string {
  const match = routes.match(method, path);
  if (match.kind === 'operation') return `op ${match.operation.id}`;
  return match.kind === 'notFound' ? '404' : `405 ${match.allowed.join(',')}`;
}

const summary = (errors: ErrorObject[] | null | undefined) => (errors ?? []).map((e) => `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`);

/** A request shaped as Koa would hand it to the router (a minimal ctx for parseRequest). */
function fakeCtx(method: string, query: Record<string, string | string[]>) {
  return { method: method.toUpperCase(), headers: { host: 'localhost' }, query } as never;
}

describe('compiled router: the same decisions as openapi-backend', () => {
  before(async () => {
    api = new OpenAPIBackend({ definition: loadSpec(), strict: true, validate: true, apiRoot: '/', customizeAjv });
    await api.init();
    operations = api.router.getOperations();
    routes = compileRoutes(operations, (op) => api.validator.getRequestValidatorsForOperation(op.operationId!) ?? []);
  });

  it('routes every spec path, its variants and unknown paths to the same operation, 404 or 405', () => {
    const specPaths = operations.map((op) => op.path);
    const segment = fc.constantFrom('x', 'abc', '%20', '..', '', 'oauth', 'api', 'me', 'devices', '{grant_id}', 'a.b');
    const path = fc.oneof(
      fc.constantFrom(...specPaths).map((p) => p.replace('{grant_id}', 'g1')),
      fc.tuple(fc.constantFrom(...specPaths), fc.constantFrom('/', '//', '/x', 'x', '.json', '')).map(([p, tail]) => p.replace('{grant_id}', 'g%2F1') + tail),
      fc.array(segment, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`),
      fc.constantFrom(...specPaths).map((p) => p.toUpperCase()),
    );
    const method = fc.constantFrom(...METHODS, ...METHODS.map((m) => m.toUpperCase()));
    fc.assert(
      fc.property(method, path, (m, p) => {
        expect(compiled(m, p), `${m} ${p}`).to.equal(reference(m, p));
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the same validation errors in form bodies and queries', () => {
    const formOperations = operations.filter((op) => op.requestBody);
    const queryOperations = operations.filter((op) => (op.parameters ?? []).some((p) => 'in' in p && p.in === 'query'));
    expect(formOperations.length).to.be.greaterThan(3);
    expect(queryOperations.length).to.be.greaterThan(1);
    const fieldNames = fc.constantFrom('grant_type', 'client_id', 'client_secret', 'device_code', 'scope', 'token', 'token_type_hint', 'refresh_token', 'user_code', 'return_to', 'csrf_token', 'decision', 'username', 'password', 'other', 'access_token');
    const value = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('3600', 'true', 'false', '-1', '1.5', 'x'.repeat(70), 'x'.repeat(600), 'approve', 'deny', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'));
    const fields = fc.dictionary(fieldNames, value, { maxKeys: 6 });
    const queryValue = fc.oneof(value, fc.array(value, { minLength: 2, maxLength: 2 }));
    const query = fc.dictionary(fieldNames, queryValue, { maxKeys: 3 });
    fc.assert(
      fc.property(fc.constantFrom(...formOperations, ...queryOperations), fields, query, (op, body, q) => {
        const match = routes.match(op.method, op.path.replace('{grant_id}', 'g1'));
        if (match.kind !== 'operation') throw new Error(`${op.operationId} did not route`);
        const operation = match.operation;
        const form = op.requestBody ? { ...body } : undefined;
        const request = operation.parseRequest(fakeCtx(op.method, q), match.path, form);
        const ours = operation.validate(request, fakeCtx(op.method, q));
        // openapi-backend validates the declared query only, as the router hands it over.
        const theirs = api.validator.validateRequest(
          { method: op.method, path: match.path, headers: { host: 'localhost' }, query: request.query, body: op.requestBody ? { ...body } : undefined },
          op,
        );
        expect(summary(ours), `${op.operationId} ${JSON.stringify(body)} ${JSON.stringify(q)}`).to.deep.equal(summary(theirs.errors));
      }),
      { numRuns: 1500 },
    );
  });

  it('coerces declared integers and booleans of form bodies in place, as before', () => {
    const match = routes.match('post', '/oauth/token');
    if (match.kind !== 'operation') throw new Error('no token operation');
    const form: Record<string, unknown> = { grant_type: 'refresh_token', refresh_token: 'r', client_id: 'c' };
    const request = match.operation.parseRequest(fakeCtx('post', {}), match.path, form);
    expect(match.operation.validate(request, fakeCtx('post', {}))).to.equal(null);
    expect(request.requestBody).to.equal(form);
  });

  it('refuses at boot a spec feature it does not reproduce (cookie parameters)', () => {
    const op = { ...operations[0]!, parameters: [{ name: 'sid', in: 'cookie', schema: { type: 'string' } }] } as Operation;
    expect(() => compileRoutes([op], () => [])).to.throw(/cookie parameters are not supported/);
  });

  it('security: schemes without a handler give every request the same results, worked out at boot; a handler runs per request and decides', async () => {
    const calls: string[] = [];
    const table = compileRoutes(operations, () => [], {
      bearerToken: async (_c, ctx) => {
        calls.push((ctx as unknown as { token: string }).token);
        if ((ctx as unknown as { token: string }).token === 'bad') throw new Error('refused');
        return { sub: 'u1' };
      },
    });
    const operationAt = (method: string, path: string) => {
      const match = table.match(method, path);
      if (match.kind !== 'operation') throw new Error(`${method} ${path} did not route`);
      return match.operation;
    };
    // The token endpoint: HTTP Basic or nothing (`{}`), checked by the action itself.
    const token = operationAt('post', '/oauth/token');
    const first = token.runSecurity({} as never, {} as never);
    expect(first).to.not.be.instanceOf(Promise);
    expect(first).to.deep.equal({ clientBasic: undefined, authorized: true });
    expect(token.runSecurity({} as never, {} as never)).to.equal(first);
    // A bearer-protected resource: its handler runs for each request, and its outcome decides.
    const me = operationAt('get', '/api/me');
    expect(await me.runSecurity({} as never, { token: 'good' } as never)).to.deep.equal({ bearerToken: { sub: 'u1' }, authorized: true });
    const refused = (await me.runSecurity({} as never, { token: 'bad' } as never)) as unknown as { bearerToken: { error: Error }; authorized: boolean };
    expect(refused.authorized).to.equal(false);
    expect(refused.bearerToken.error.message).to.equal('refused');
    expect(calls).to.deep.equal(['good', 'bad']);
    // Without a handler for its only scheme, a protected operation is never authorized.
    const unprotected = compileRoutes(operations, () => []).match('get', '/api/me');
    if (unprotected.kind !== 'operation') throw new Error('no getMe');
    expect(unprotected.operation.runSecurity({} as never, {} as never)).to.deep.equal({ bearerToken: undefined, authorized: false });
  });
});
