/**
 * Server-rendered pages with Eta, which escapes every `<%= %>` by default. The one stylesheet
 * is inlined and allowed by its hash in the Content-Security-Policy, so pages need no route for
 * static files and run no script.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Eta } from 'eta';
import type { Context } from 'koa';

export interface PageRenderer {
  /** `sha256-...` of the inline stylesheet, for the CSP. */
  styleHash: string;
  render(ctx: Context, template: string, data: Record<string, unknown>, status?: number): void;
}

export function createPageRenderer(): PageRenderer {
  const eta = new Eta({ views: __dirname, autoEscape: true, cache: true });
  const css = readFileSync(join(__dirname, 'style.css'), 'utf8');
  const styleHash = `sha256-${createHash('sha256').update(css).digest('base64')}`;
  return {
    styleHash,
    render(ctx, template, data, status = 200) {
      ctx.status = status;
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = eta.render(`./${template}`, { ...data, css });
    },
  };
}
