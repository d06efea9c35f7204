/**
 * Koa's `response.set` for the common call, one header name and one value, straight to Node.
 * Koa 3 builds an entry array, maps it through a normaliser (which lowercases the name) and
 * walks it with a closure on every call: about 450 bytes, and a JSON answer makes five such
 * calls (its type and length, the request id, Cache-Control, Pragma). A sampling heap profile
 * of introspection counted 2.3 KB a request there (bench/README.md, eighth session). Arrays
 * (for Content-Type and Content-Length Koa unwraps a one-element array) and objects of headers
 * still take Koa's own path, so the behaviour is Koa's.
 */
import type Koa from 'koa';

export function useLeanHeaderSet(app: Koa): void {
  const response = app.response as unknown as { set(field: unknown, val?: unknown): void; headerSent: boolean; res: { setHeader(name: string, value: unknown): void } };
  const koaSet = response.set;
  response.set = function set(this: typeof response, field: unknown, val?: unknown): void {
    if (typeof field !== 'string' || Array.isArray(val)) return koaSet.call(this, field, val);
    if (this.headerSent || !field) return;
    this.res.setHeader(field, val);
  };
}
