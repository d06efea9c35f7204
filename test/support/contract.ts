/**
 * Every response the suite receives is checked against openapi.yaml: the status must be one
 * the operation declares, required headers must be present and match their schema, and the
 * body must match the schema of its declared media type. Unknown paths must answer the
 * OAuthError shape. A mismatch fails the test that made the call.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { AssertionError } from 'chai';
import OpenAPIBackend, { type Operation } from 'openapi-backend';
import { loadSpec } from '../../src/app';

interface ResponseObject {
  headers?: Record<string, { required?: boolean; schema?: object }>;
  content?: Record<string, { schema?: object }>;
}

export interface ObservedResponse {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  text: string;
}

let ready: Promise<{ api: OpenAPIBackend; ajv: Ajv; oauthError: ValidateFunction }> | undefined;

function contract() {
  ready ??= (async () => {
    const api = new OpenAPIBackend({ definition: loadSpec(), strict: true, validate: true, apiRoot: '/', customizeAjv: (a) => (addFormats(a), a) });
    await api.init();
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const schemas = (api.definition.components?.schemas ?? {}) as Record<string, object>;
    return { api, ajv, oauthError: ajv.compile(schemas.OAuthError!) };
  })();
  return ready;
}

/** operationId + status pairs seen, written to test-output/contract-coverage.json at exit. */
const observed = new Set<string>();
process.on('exit', () => {
  if (observed.size === 0) return;
  const dir = join(process.cwd(), 'test-output');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'contract-coverage.json'), JSON.stringify([...observed].sort(), null, 2));
});

/** The operationId + status pairs seen so far in this process (read-only view). */
export function observedPairs(): ReadonlySet<string> {
  return observed;
}

function fail(r: ObservedResponse, why: string): never {
  throw new AssertionError(`contract: ${r.method} ${r.path} -> ${r.status}: ${why}\n${r.text.slice(0, 500)}`);
}

export async function checkContract(r: ObservedResponse): Promise<void> {
  const { api, ajv, oauthError } = await contract();
  const operation = api.router.matchOperation({ method: r.method, path: r.path, headers: {} }) as Operation | undefined;
  if (!operation) {
    if (r.status !== 404 && r.status !== 405) fail(r, 'no operation matches and the status is not 404 or 405');
    if (r.status === 405 && !r.headers.get('allow')) fail(r, '405 without an Allow header');
    if (!oauthError(JSON.parse(r.text))) fail(r, `body is not an OAuthError: ${ajv.errorsText(oauthError.errors)}`);
    observed.add(`(no operation) ${r.status}`);
    return;
  }
  const declared = operation.responses?.[String(r.status)] as ResponseObject | undefined;
  if (!declared) fail(r, `status ${r.status} is not declared for ${operation.operationId}`);
  observed.add(`${operation.operationId} ${r.status}`);

  for (const [name, header] of Object.entries(declared.headers ?? {})) {
    const value = r.headers.get(name);
    if (value === null) {
      if (header.required) fail(r, `required header ${name} is missing`);
      continue;
    }
    const schema = header.schema as { type?: string } | undefined;
    if (schema) {
      const parsed = schema.type === 'integer' ? Number(value) : value;
      const validate = ajv.compile(schema);
      if (!validate(parsed)) fail(r, `header ${name}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
    }
  }

  const content = declared.content;
  if (!content) return; // e.g. 303: nothing declared about the body
  const mediaType = (r.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!content[mediaType]) fail(r, `content type ${mediaType} is not declared (${Object.keys(content).join(', ')})`);
  const body = mediaType === 'application/json' ? JSON.parse(r.text) : r.text;
  const result = api.validator.validateResponse(body, operation, r.status);
  if (result.errors?.length) fail(r, `body does not match the schema: ${JSON.stringify(result.errors)}`);
}
