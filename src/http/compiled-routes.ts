/**
 * The operations of openapi.yaml compiled once into a route table, with the same matching
 * rules as openapi-backend's router: trailing slashes ignored; an exact path with the method
 * wins; otherwise the path templates that match, most specific (longest literal part) first;
 * a path no operation has is 404, a path without the method 405 with the methods it has.
 * Each operation keeps its path-parameter parser, its precompiled validators and what its
 * requests need parsed (cookies, headers), so nothing about the spec is worked out per request.
 */
import type { Context } from 'koa';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Context as ApiContext, Operation } from 'openapi-backend';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

type Query = Record<string, string | string[]>;

/** What handlers read as `c.request`, shaped as openapi-backend's parsed request. */
export interface ParsedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Query;
  params: Record<string, string>;
  cookies: Record<string, string | undefined>;
  body: unknown;
  requestBody: unknown;
}

export interface CompiledOperation {
  id: string;
  operation: Operation;
  tags: string[];
  hasBody: boolean;
  /** Bearer-protected: validation errors carry a Bearer challenge (RFC 6750 §3). */
  bearer: boolean;
  securitySchemes: string[];
  parseRequest(ctx: Context, path: string, body: unknown): ParsedRequest;
  /** The validation errors of a parsed request, in openapi-backend's order, or null. */
  validate(request: ParsedRequest, ctx: Context): ErrorObject[] | null;
  /** The security results; the same object for every request when no scheme of the operation has a handler. */
  runSecurity(c: ApiContext, ctx: Context): ApiContext['security'] | Promise<ApiContext['security']>;
}

/** Resolves to the security result of a scheme, or throws the error to answer with. */
export type SecurityHandler = (c: ApiContext, ctx: Context) => Promise<unknown>;

export type RouteMatch =
  | { kind: 'operation'; operation: CompiledOperation; path: string }
  | { kind: 'notFound' }
  | { kind: 'methodNotAllowed'; allowed: string[] };

interface TemplateRoute {
  pattern: RegExp;
  specificity: number;
  methods: Map<string, CompiledOperation>;
}

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** openapi-backend's template rule: each `{name}` stands for one segment. */
function templatePattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/\{[^}]+\}/g, '\0').split('\0').map(escapeRegExp).join('[^/]+')}$`);
}

/** `/a/{id}` -> a parser of `/a/x%20y` into `{ id: 'x y' }` (the path has matched the template). */
function pathParameterParser(template: string): (path: string) => Record<string, string> {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '\0').split('\0').map(escapeRegExp).join('([^/]+)')}$`);
  return (path) => {
    const values = pattern.exec(path);
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      if (values) params[name] = decodeURIComponent(values[i + 1]!);
    });
    return params;
  };
}

/** Trimmed, with a leading slash and without trailing slashes (ignoreTrailingSlashes). */
function normalizePath(raw: string): string {
  let path = raw.trim();
  if (!path.startsWith('/')) path = `/${path}`;
  path = path.split('?')[0]!;
  while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path;
}

function compileOperation(operation: Operation, validators: ValidateFunction[], handlers: Record<string, SecurityHandler>): CompiledOperation {
  const parameters = (operation.parameters ?? []) as { in: string; name: string; schema?: { type?: string }; content?: unknown; explode?: boolean }[];
  for (const p of parameters) {
    // Features of openapi-backend's parser this table does not reproduce: refuse at boot.
    if (p.content !== undefined || p.explode === false || p.in === 'cookie') {
      throw new Error(`openapi.yaml: parameter ${p.name} of ${operation.operationId}: content, explode: false and cookie parameters are not supported by the router`);
    }
  }
  const queryNames = new Set(parameters.filter((p) => p.in === 'query').map((p) => p.name));
  const arrayQueryNames = new Set(parameters.filter((p) => p.in === 'query' && p.schema?.type === 'array').map((p) => p.name));
  const hasPathParams = parameters.some((p) => p.in === 'path');
  const needsHeaderCopy = parameters.some((p) => p.in === 'header'); // coercion must not write into ctx.headers
  const pathParams = hasPathParams ? pathParameterParser(operation.path) : undefined;
  const security = operation.security ?? [];
  const securitySchemes = [...new Set(security.flatMap((requirement) => Object.keys(requirement)))];
  // One requirement object must be met in full; a falsy result or an { error } fails it.
  const authorizedBy = (results: Record<string, unknown>) =>
    security.some((requirement) =>
      Object.keys(requirement).every((name) => {
        const result = results[name];
        return Boolean(result) && !(typeof result === 'object' && (result as { error?: unknown }).error);
      }),
    );
  // With no handler for any of its schemes (HTTP Basic of the token endpoints, which the
  // actions check themselves), every request gets the same results: worked out once, here.
  const unhandled: ApiContext['security'] | undefined = securitySchemes.some((name) => handlers[name])
    ? undefined
    : (Object.freeze(Object.assign(Object.fromEntries(securitySchemes.map((name) => [name, undefined])), { authorized: authorizedBy({}) })) as ApiContext['security']);

  /**
   * Only the query parameters the operation declares: others are ignored, as RFC 6749 §3.1
   * asks of unrecognised parameters (openapi-backend would refuse them).
   */
  const declaredQuery = (query: Record<string, string | string[] | undefined>): Query => {
    const declared: Query = {};
    if (queryNames.size === 0) return declared;
    for (const name of Object.keys(query)) {
      const value = query[name];
      if (value !== undefined && queryNames.has(name)) declared[name] = value;
    }
    return declared;
  };

  const runHandlers = async (c: ApiContext, ctx: Context): Promise<ApiContext['security']> => {
    const results: Record<string, unknown> = {};
    await Promise.all(
      securitySchemes.map(async (name) => {
        const handler = handlers[name];
        results[name] = undefined;
        if (!handler) return;
        try {
          results[name] = await handler(c, ctx);
        } catch (error) {
          results[name] = { error: error || new Error('security handler rejected') };
        }
      }),
    );
    return Object.assign({}, results, { authorized: authorizedBy(results) }) as ApiContext['security'];
  };

  return {
    id: operation.operationId!,
    operation,
    tags: operation.tags ?? [],
    hasBody: Boolean(operation.requestBody),
    bearer: security.some((requirement) => 'bearerToken' in requirement),
    securitySchemes,

    parseRequest(ctx, path, body) {
      const headers = needsHeaderCopy ? { ...ctx.headers } : ctx.headers;
      return {
        method: ctx.method.toLowerCase(),
        path,
        headers,
        query: declaredQuery(ctx.query),
        params: pathParams ? pathParams(path) : {},
        cookies: {},
        body,
        requestBody: body,
      };
    },

    validate(request) {
      // Validators coerce in place: they get their own copy of the query (the body is the
      // form itself, whose declared integers and booleans are meant to be coerced).
      const query: Query = { ...request.query };
      for (const name of arrayQueryNames) if (typeof query[name] === 'string') query[name] = [query[name] as string];
      const parameters: Record<string, unknown> = { path: { ...request.params }, query, header: request.headers, cookie: request.cookies };
      if (this.hasBody) parameters.requestBody = request.requestBody;
      let errors: ErrorObject[] | null = null;
      for (const validate of validators) {
        if (!validate(parameters)) (errors ??= []).push(...(validate.errors ?? []));
      }
      return errors;
    },

    runSecurity(c, ctx) {
      return unhandled ?? runHandlers(c, ctx);
    },
  };
}

export interface RouteTable {
  match(method: string, rawPath: string): RouteMatch;
}

/** `securityHandlers`: by scheme name, as openapi-backend's registerSecurityHandler takes them. */
export function compileRoutes(operations: Operation[], validatorsOf: (operation: Operation) => ValidateFunction[], securityHandlers: Record<string, SecurityHandler> = {}): RouteTable {
  const exact = new Map<string, Map<string, CompiledOperation>>();
  const templates: TemplateRoute[] = [];
  for (const operation of operations) {
    const compiled = compileOperation(operation, validatorsOf(operation), securityHandlers);
    const methods = exact.get(operation.path) ?? new Map<string, CompiledOperation>();
    methods.set(operation.method, compiled);
    exact.set(operation.path, methods);
  }
  for (const [path, methods] of exact) {
    templates.push({ pattern: templatePattern(path), specificity: path.replace(/\{.*?\}/g, '').length, methods });
  }
  // Most specific first; the sort is stable, so equally specific paths keep the spec's order.
  templates.sort((a, b) => b.specificity - a.specificity);

  return {
    match(rawMethod, rawPath) {
      const method = rawMethod.trim().toLowerCase();
      const path = normalizePath(rawPath);
      const exactHit = exact.get(path)?.get(method);
      if (exactHit) return { kind: 'operation', operation: exactHit, path };
      const matching = templates.filter((t) => t.pattern.test(path));
      if (matching.length === 0) return { kind: 'notFound' };
      for (const t of matching) {
        const hit = t.methods.get(method);
        if (hit) return { kind: 'operation', operation: hit, path };
      }
      const allowed = METHODS.filter((m) => matching.some((t) => t.methods.has(m))).map((m) => m.toUpperCase());
      return { kind: 'methodNotAllowed', allowed };
    },
  };
}
