import Koa from 'koa';

/** Baseline (b): a Koa app answering a constant, on loopback like the API. Env: PORT. */
const app = new Koa();
app.use((ctx) => {
  ctx.status = ctx.method === 'POST' ? 202 : 200;
  ctx.body = { ok: true };
});
const port = Number(process.env.PORT ?? 0);
const server = app.listen(port, '127.0.0.1', () => process.stdout.write(`koa baseline listening on ${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
