/**
 * `verification_uri_complete` as an SVG QR code, made here (no outside service), for devices
 * that can show an image but cannot draw a QR code. The code is only normalised, never looked
 * up, so the image says nothing about which codes exist.
 */
import QRCode from 'qrcode';
import { formatUserCode, normalizeUserCode } from '../helpers/user-code';
import { InvalidRequest } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';

export function getActivationQrCode(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const typed = String((c.request.query as Record<string, string>).user_code);
    const normalized = normalizeUserCode(typed, server.options.userCode);
    if (normalized === undefined) throw new InvalidRequest('user_code is not a user code of this server');
    const link = `${server.urls.verification}?user_code=${encodeURIComponent(formatUserCode(normalized))}`;
    ctx.type = 'image/svg+xml';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  };
}
