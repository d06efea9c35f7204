/**
 * Server-rendered pages with Eta, which escapes every `<%= %>` by default, in the language the
 * browser prefers. The one stylesheet is inlined and allowed by its hash in the
 * Content-Security-Policy, so pages need no route for static files and run no script.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Eta } from 'eta';
import type { Context } from 'koa';
import type { PageError } from '../http/errors';
import { isMessageKey, negotiateLocale, translator, type MessageKey, type Translate } from './i18n';

export interface PageRenderer {
  /** `sha256-...` of the inline stylesheet, for the CSP. */
  styleHash: string;
  render(ctx: Context, template: string, data: Record<string, unknown>, status?: number): void;
  renderError(ctx: Context, error: PageError): void;
  /** The translator for this request's language. */
  translate(ctx: Context): Translate;
}

export function createPageRenderer(): PageRenderer {
  const eta = new Eta({ views: __dirname, autoEscape: true, cache: true });
  const css = readFileSync(join(__dirname, 'style.css'), 'utf8');
  const styleHash = `sha256-${createHash('sha256').update(css).digest('base64')}`;

  const localeOf = (ctx: Context) => negotiateLocale(ctx.get('accept-language') || undefined);

  function render(ctx: Context, template: string, data: Record<string, unknown>, status = 200): void {
    const lang = localeOf(ctx);
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Language', lang);
    ctx.vary('Accept-Language');
    ctx.body = eta.render(`./${template}`, Object.assign({}, data, { css, lang, t: translator(lang) }));
  }

  return {
    styleHash,
    render,
    translate: (ctx) => translator(localeOf(ctx)),
    renderError(ctx, error) {
      const t = translator(localeOf(ctx));
      const statusTitle = `http.${error.status}.title`;
      const title = error.pageMessage
        ? t(`${error.pageMessage}.title` as MessageKey)
        : t(isMessageKey(statusTitle) ? statusTitle : 'http.other.title');
      const detail = error.pageMessage ? t(`${error.pageMessage}.detail` as MessageKey, error.params) : t('http.detail');
      render(ctx, 'error', { title, detail, note: error.note }, error.status);
    },
  };
}
