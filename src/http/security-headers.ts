/**
 * Headers on every response. Pages load no script and no external resource; the only style is
 * the inline stylesheet of the layout, allowed by its hash. The code must not leak through the
 * Referer, and no page may be framed (clickjacking an Approve button).
 */
import type { Middleware } from 'koa';

export function securityHeaders(styleHash: string): Middleware {
  const csp = [
    "default-src 'none'",
    `style-src '${styleHash}'`,
    "img-src 'self' data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  const headers: ReadonlyArray<readonly [string, string]> = [
    ['Content-Security-Policy', csp],
    ['X-Frame-Options', 'DENY'],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
  ];
  // Straight on Node's response, first thing, before anything could have been sent: Koa's
  // ctx.set with an object builds entry arrays for every header of every request (issue #8).
  return async (ctx, next) => {
    for (const [name, value] of headers) ctx.res.setHeader(name, value);
    await next();
  };
}
