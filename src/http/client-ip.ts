/**
 * The client's address as the limits and the confirm page use it: Koa's ctx.ip (behind a
 * trusted proxy, the address the nearest proxy saw) when it is an IP address, else the
 * socket's peer. Never free text from a header.
 */
import { isIP } from 'node:net';
import type { Context } from 'koa';

export function clientIp(ctx: Context): string {
  const candidate = ctx.ip?.trim() ?? '';
  if (isIP(candidate)) return candidate;
  return ctx.req.socket.remoteAddress ?? 'unknown';
}
