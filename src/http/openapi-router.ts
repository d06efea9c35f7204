/**
 * The spec is the router: openapi-backend matches every request to an operation of
 * openapi.yaml by operationId, checks its security requirements and validates it before the
 * handler runs. Strict mode makes a handler for an unknown operationId a boot failure, and a
 * check below makes an operation without a handler one too.
 */
import type { Context, Middleware } from 'koa';
import addFormats from 'ajv-formats';
import Ajv from 'ajv';
import OpenAPIBackend, { type Context as ApiContext, type Document, type Operation, ValidationContext } from 'openapi-backend';
import { BearerInvalidRequest, InvalidRequest, MethodNotAllowed, NotFound } from './errors';
import { readForm } from './form-body';
import { describeValidationErrors } from './validation-messages';

/** Returns nothing: a handler sets ctx.status, headers and body, or throws an error. */
export type OperationHandler = (c: ApiContext, ctx: Context) => Promise<void> | void;

/** Resolves to the security result of a scheme, or throws the error to answer with. */
export type SecurityHandler = (c: ApiContext, ctx: Context) => Promise<unknown>;

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

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export async function createOpenApiRouter(options: RouterOptions): Promise<Middleware> {
  const api = new OpenAPIBackend({
    definition: options.spec,
    strict: true,
    validate: true,
    apiRoot: '/',
    // Formats such as `uri` are checked, not ignored with a warning. Form bodies arrive as
    // strings, so their integer and boolean fields are coerced (`"3600"` -> 3600) before checks.
    customizeAjv: (ajv, ajvOptions, context) => {
      if (context !== ValidationContext.RequestBody) return addFormats(ajv);
      const coercing = new Ajv({ ...ajvOptions, coerceTypes: true });
      for (const [name, format] of Object.entries(ajv.formats)) if (format) coercing.addFormat(name, format); // OpenAPI's int32, int64 ...
      return addFormats(coercing);
    },
  });

  api.register({
    ...options.handlers,
    validationFail: (c: ApiContext) => {
      const description = describeValidationErrors(c.validation.errors ?? []);
      // RFC 6750 §3: a resource answers a malformed request with a Bearer challenge too.
      const bearer = (c.operation.security ?? []).some((r) => 'bearerToken' in r);
      throw bearer ? new BearerInvalidRequest(options.bearerRealm, description) : new InvalidRequest(description);
    },
    notFound: () => {
      throw new NotFound();
    },
    methodNotAllowed: (c: ApiContext) => {
      throw new MethodNotAllowed(allowedMethods(api, c.request.path));
    },
    // A security handler that throws leaves its error in the results; rethrow the first one.
    unauthorizedHandler: (c: ApiContext) => {
      const failure = Object.values(c.security).find((r) => r && typeof r === 'object' && 'error' in r) as
        | { error: unknown }
        | undefined;
      throw failure?.error ?? new InvalidRequest('authentication required');
    },
  });
  for (const [scheme, handler] of Object.entries(options.securityHandlers)) {
    api.registerSecurityHandler(scheme, handler);
  }
  await api.init();

  const missing = api.router.getOperations().filter((op) => !options.handlers[op.operationId ?? '']);
  if (missing.length > 0) {
    throw new Error(`openapi.yaml has operations without a handler: ${missing.map((op) => op.operationId).join(', ')}`);
  }

  return async (ctx) => {
    // A path with broken percent-encoding names nothing here (openapi-backend would throw).
    try {
      decodeURIComponent(ctx.path);
    } catch {
      throw new NotFound();
    }
    const request = { method: ctx.method, path: ctx.path, query: {}, headers: ctx.headers as Record<string, string> };
    const operation = api.router.matchOperation(request) as Operation | undefined;
    let body: unknown;
    if (operation) {
      ctx.state.operation = operation;
      ctx.state.page = operation.tags?.includes(options.pageTag) ?? false;
      if (operation.requestBody) body = ctx.state.form = await readForm(ctx, options.bodyLimit);
    }
    await api.handleRequest({ ...request, query: declaredQuery(operation, ctx.query), body }, ctx);
  };
}

/**
 * Only the query parameters the operation declares: others are ignored, as RFC 6749 §3.1 asks
 * of unrecognised parameters (openapi-backend would refuse them).
 */
function declaredQuery(operation: Operation | undefined, query: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const declared = new Set(
    (operation?.parameters ?? []).filter((p) => 'in' in p && p.in === 'query').map((p) => (p as { name: string }).name),
  );
  return Object.fromEntries(Object.entries(query).filter(([name, value]) => declared.has(name) && value !== undefined)) as Record<string, string | string[]>;
}

function allowedMethods(api: OpenAPIBackend, path: string): string[] {
  return METHODS.filter((method) => api.router.matchOperation({ method, path, headers: {} })).map((m) => m.toUpperCase());
}
