/**
 * The spec is the router: every request is matched to an operation of openapi.yaml by
 * operationId, its security requirements are checked and it is validated before the handler
 * runs. Strict mode makes a handler for an unknown operationId a boot failure, and a check
 * below makes an operation without a handler one too.
 *
 * openapi-backend reads and checks the spec, dereferences it and compiles the ajv validators,
 * once, at boot. Its per-request path (handleRequest) is not used: it rebuilds the operation
 * list for every match and parses each request three times. Instead the operations are
 * compiled here into a route table (compiled-routes.ts), so a request costs one match, one
 * parse and one run of the operation's precompiled validators, in openapi-backend's order:
 * route (404/405), security (unauthorized), validation (validationFail), handler.
 */
import type { Context, Middleware } from 'koa';
import addFormats from 'ajv-formats';
import Ajv, { type ErrorObject } from 'ajv';
import OpenAPIBackend, { type Context as ApiContext, type Document, OpenAPIValidator, ValidationContext } from 'openapi-backend';
import { BearerInvalidRequest, InvalidRequest, MethodNotAllowed, NotFound } from './errors';
import { compileRoutes, type CompiledOperation, type SecurityHandler } from './compiled-routes';
import { readForm } from './form-body';
import { describeValidationErrors } from './validation-messages';

export type { SecurityHandler } from './compiled-routes';

/** Returns nothing: a handler sets ctx.status, headers and body, or throws an error. */
export type OperationHandler = (c: ApiContext, ctx: Context) => Promise<void> | void;

export interface RouterOptions {
  /** The realm of Bearer challenges, for validation errors of bearer-protected operations. */
  bearerRealm: string;
  spec: Document;
  handlers: Record<string, OperationHandler>;
  securityHandlers: Record<string, SecurityHandler>;
  bodyLimit: number;
  /** Operations with this tag are pages: their errors are rendered as HTML. */
  pageTag: string;
}

/**
 * Formats such as `uri` are checked, not ignored with a warning. Form bodies arrive as strings,
 * so their integer and boolean fields are coerced (`"3600"` -> 3600) before checks.
 */
export function customizeAjv(ajv: Ajv, ajvOptions: object, context: ValidationContext): Ajv {
  if (context !== ValidationContext.RequestBody) return addFormats(ajv);
  const coercing = new Ajv(Object.assign({}, ajvOptions, { coerceTypes: true }));
  for (const [name, format] of Object.entries(ajv.formats)) if (format) coercing.addFormat(name, format); // OpenAPI's int32, int64 ...
  return addFormats(coercing);
}

export async function createOpenApiRouter(options: RouterOptions): Promise<Middleware> {
  // Boot: read, check and dereference the spec; refuse handlers for unknown operations.
  const api = new OpenAPIBackend({ definition: options.spec, strict: true, validate: false, apiRoot: '/' });
  api.register(options.handlers);
  await api.init();
  const operations = api.router.getOperations();
  const missing = operations.filter((op) => !options.handlers[op.operationId ?? '']);
  if (missing.length > 0) {
    throw new Error(`openapi.yaml has operations without a handler: ${missing.map((op) => op.operationId).join(', ')}`);
  }
  // Request validators only (openapi-backend would also compile response validators, unused here).
  const validator = new OpenAPIValidator({ definition: api.definition, router: api.router, customizeAjv, lazyCompileValidators: true });
  const routes = compileRoutes(operations, (op) => validator.getRequestValidatorsForOperation(op.operationId!) ?? [], options.securityHandlers);

  const validationFail = (operation: CompiledOperation, errors: ErrorObject[]): never => {
    const description = describeValidationErrors(errors);
    // RFC 6750 §3: a resource answers a malformed request with a Bearer challenge too.
    throw operation.bearer ? new BearerInvalidRequest(options.bearerRealm, description) : new InvalidRequest(description);
  };

  return async (ctx) => {
    // A path with broken percent-encoding names nothing here.
    try {
      decodeURIComponent(ctx.path);
    } catch {
      throw new NotFound();
    }
    const match = routes.match(ctx.method, ctx.path);
    if (match.kind === 'notFound') throw new NotFound();
    if (match.kind === 'methodNotAllowed') throw new MethodNotAllowed(match.allowed);
    const { operation } = match;

    ctx.state.operation = operation.operation;
    ctx.state.page = operation.tags.includes(options.pageTag);
    const body = operation.hasBody ? (ctx.state.form = await readForm(ctx, options.bodyLimit)) : undefined;
    const request = operation.parseRequest(ctx, match.path, body);
    const c = { api, operation: operation.operation, request } as unknown as ApiContext;

    if (operation.securitySchemes.length > 0) {
      const security = operation.runSecurity(c, ctx);
      c.security = security instanceof Promise ? await security : security;
      if (!c.security.authorized) {
        // A security handler that throws leaves its error in the results; rethrow the first one.
        const failure = Object.values(c.security).find((r) => r && typeof r === 'object' && 'error' in r) as { error: unknown } | undefined;
        throw failure?.error ?? new InvalidRequest('authentication required');
      }
    }

    const errors = operation.validate(request, ctx);
    if (errors) {
      c.validation = { valid: false, errors };
      validationFail(operation, errors);
    }
    c.validation = { valid: true, errors: null };
    await options.handlers[operation.id]!(c, ctx);
  };
}
