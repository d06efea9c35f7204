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

/** The answer's headers, and how many ctx.set calls reached Koa's own `set`. */
async function headersFrom(lean: boolean): Promise<{ answer: { status: number; headers: Record<string, string>; late: string }; koaSetCalls: number }> {
  const app = new Koa();
  const response = app.response as unknown as { set(...args: unknown[]): void };
  const koaSet = response.set;
  let koaSetCalls = 0;
  response.set = function counted(this: unknown, ...args: unknown[]) {
    koaSetCalls++;
    return koaSet.apply(this, args);
  };
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
    return { answer: { status: res.status, headers, late }, koaSetCalls };
  } finally {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  }
}

describe('Koa header setting, lean path', () => {
  it('sends the same headers as Koa for every form of ctx.set, skips Koa for one name and one value, and ignores a set after the headers went', async () => {
    const { answer: koa, koaSetCalls: allCalls } = await headersFrom(false);
    const { answer: lean, koaSetCalls: leanCalls } = await headersFrom(true);
    expect(lean).to.deep.equal(koa);
    // Only the object and the two arrays took Koa's path; every one-name, one-value call (ours
    // and Koa's own Content-Type and Content-Length) went straight to Node.
    expect(leanCalls).to.equal(3);
    expect(allCalls).to.be.greaterThan(8);
    expect(lean.headers).to.include({ 'x-one': 'a', 'x-number': '42', 'x-from-object': 'b', 'x-other': 'c', 'x-list': 'd, e', 'content-language': 'en', 'cache-control': 'no-cache' });
    expect(lean.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(lean.headers['content-length']).to.equal('11');
    expect(lean.late).to.equal('ignored');
  });
});
