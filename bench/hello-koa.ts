/** The ceiling of this machine for a Koa app: a bare Koa hello-world, nothing else. */
import Koa from 'koa';

const app = new Koa();
app.use((ctx) => {
  ctx.body = 'Hello World';
});
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
