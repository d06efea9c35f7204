/**
 * useLeanHeaderSet (src/http/lean-header-set.ts): Koa's `ctx.set` with one name and one value
 * goes straight to Node; every other form keeps Koa's behaviour. Checked over real HTTP on a
 * bare Koa app with and without it: the same headers either way.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Koa from 'koa';
import { useLeanHeaderSet } from '../../src/http/lean-header-set';

async function headersFrom(lean: boolean): Promise<{ status: number; headers: Record<string, string>; late: string }> {
  const app = new Koa();
  if (lean) useLeanHeaderSet(app);
  let late = '';
  app.use(async (ctx) => {
    ctx.set('X-One', 'a');
    ctx.set('X-Number', 42 as unknown as string);
    ctx.set({ 'X-From-Object': 'b', 'X-Other': 'c' });
    ctx.set('X-List', ['d', 'e']);
    ctx.set('Content-Language', ['en']);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Cache-Control', 'no-cache'); // the later value wins
    ctx.body = { ok: true }; // Koa sets Content-Type and Content-Length through set
    ctx.res.on('finish', () => {
      try {
        ctx.set('X-After', 'too late'); // ignored once the headers are sent, as in Koa
        late = ctx.response.get('X-After') || 'ignored';
      } catch (err) {
        late = `threw ${String(err)}`;
      }
    });
  });
  const http: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => http.once('listening', () => resolve()));
  try {
    const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    await res.text();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (name !== 'date' && name !== 'connection' && name !== 'keep-alive') headers[name] = value;
    });
    return { status: res.status, headers, late };
  } finally {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  }
}

describe('Koa header setting, lean path', () => {
  it('sends the same headers as Koa for every form of ctx.set, and ignores a set after the headers went', async () => {
    const koa = await headersFrom(false);
    const lean = await headersFrom(true);
    expect(lean).to.deep.equal(koa);
    expect(lean.headers).to.include({ 'x-one': 'a', 'x-number': '42', 'x-from-object': 'b', 'x-other': 'c', 'x-list': 'd, e', 'content-language': 'en', 'cache-control': 'no-cache' });
    expect(lean.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(lean.headers['content-length']).to.equal('11');
    expect(lean.late).to.equal('ignored');
  });
});
