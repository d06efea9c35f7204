/**
 * The one place that turns errors into responses. OAuth errors keep their status, code and
 * headers; a database that cannot be reached becomes 503 temporarily_unavailable; anything else
 * is logged and answered 500 server_error without a stack trace. On the activation pages the
 * same errors become an HTML page.
 */
import type { Context, Middleware } from 'koa';
import { StoreUnavailable } from '../storage/store';
import { InvalidRequest, OAuthError, PageError, PayloadTooLarge, ServerError, TemporarilyUnavailable, UnsupportedMediaType } from './errors';

export interface ErrorHandlerOptions {
  errorUri?: string;
  renderErrorPage(ctx: Context, error: PageError): void;
  logError(err: unknown, ctx: Context): void;
}

export function toOAuthError(err: unknown, log: (err: unknown) => void): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof StoreUnavailable) return new TemporarilyUnavailable();
  // Errors raised by Koa or its helpers for bad requests (http-errors with expose=true).
  const httpError = err as { status?: number; expose?: boolean; message?: string };
  if (httpError?.expose && typeof httpError.status === 'number' && httpError.status < 500) {
    if (httpError.status === 413) return new PayloadTooLarge();
    if (httpError.status === 415) return new UnsupportedMediaType(String(httpError.message));
    return new InvalidRequest(String(httpError.message));
  }
  log(err);
  return new ServerError();
}

export function errorHandler(options: ErrorHandlerOptions): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (ctx.state.page) {
        ctx.set('Cache-Control', 'no-store');
        if (err instanceof PageError) {
          ctx.set(err.headers);
          return options.renderErrorPage(ctx, err);
        }
        const error = toOAuthError(err, (e) => options.logError(e, ctx));
        if (error.headers['Retry-After']) ctx.set('Retry-After', error.headers['Retry-After']);
        if (error.headers.Allow) ctx.set('Allow', error.headers.Allow);
        // Only client errors have a description worth showing; a 5xx says nothing of its cause.
        return options.renderErrorPage(ctx, new PageError(error.status, undefined, {}, error.status < 500 ? error.message : undefined));
      }
      renderJsonError(ctx, toOAuthError(err, (e) => options.logError(e, ctx)), options.errorUri);
    }
  };
}

/** The RFC 6749 §5.2 body and the error's headers. Exported for requireOAuth in other Koa apps. */
export function renderJsonError(ctx: Context, error: OAuthError, errorUri?: string): void {
  ctx.status = error.status;
  ctx.set(error.headers);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.body = {
    error: error.error,
    error_description: error.message,
    ...(errorUri ? { error_uri: errorUri } : {}),
    ...error.extra,
  };
}
