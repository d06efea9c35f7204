/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 Appendix B) with the rules of
 * RFC 6749 §3.2: a parameter without a value is treated as omitted, a repeated parameter is
 * refused. Any other content type is refused rather than guessed at, and the size is bounded.
 */
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from './errors';

export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

export type Form = Record<string, string>;

function checkContentType(header: string | undefined): void {
  const [media = '', ...params] = (header ?? '').split(';').map((part) => part.trim().toLowerCase());
  if (media !== FORM_MEDIA_TYPE) {
    throw new UnsupportedMediaType(`Content-Type must be ${FORM_MEDIA_TYPE}`);
  }
  for (const param of params) {
    const [name, value] = param.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') {
      throw new UnsupportedMediaType('the form must be encoded as UTF-8');
    }
  }
}

async function readText(ctx: Context, limit: number): Promise<string> {
  try {
    return await getRawBody(ctx.req, { limit, length: ctx.get('content-length') || undefined, encoding: 'utf8' });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new PayloadTooLarge(limit);
    throw new InvalidRequest('the request body could not be read');
  }
}

export function parseForm(text: string): Form {
  // No prototype: a parameter named __proto__ or constructor is an ordinary parameter.
  const form: Form = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (value === '') continue; // RFC 6749 §3.2: treated as omitted
    if (Object.hasOwn(form, name)) throw new InvalidRequest(`${name} is repeated: send each parameter once`);
    form[name] = value;
  }
  return form;
}

export async function readForm(ctx: Context, limit: number): Promise<Form> {
  checkContentType(ctx.get('content-type') || undefined);
  return parseForm(await readText(ctx, limit));
}
