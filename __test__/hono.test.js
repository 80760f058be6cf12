'use strict';

// scriptcage/hono: the Hono middleware, the oRPC header pair, and an oRPC
// RPCHandler mounted in a real Hono app. Runs under `node --test` and `bun test`.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { Hono } = require('hono');
const { os } = require('@orpc/server');
const { RPCHandler } = require('@orpc/server/fetch');
const { correlationMiddleware } = require('scriptcage/orpc');
const {
  CORRELATION_ID_HEADER,
  correlationIdMiddleware,
  orpcHeaders,
  applyResponseHeaders,
} = require('scriptcage/hono');

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ROOT = path.join(__dirname, '..');

/** A Hono app with the middleware and a route that returns the id it sees. */
function appWith(options) {
  const app = new Hono();
  app.use('*', correlationIdMiddleware(options));
  app.get('/id', (c) => c.json({ id: c.get('correlationId') }));
  return app;
}

/** GETs `/id` with an optional incoming header; returns { seen, echoed }. */
async function roundTrip(app, incoming) {
  const headers = incoming === undefined ? {} : { [CORRELATION_ID_HEADER]: incoming };
  const res = await app.request('/id', { headers });
  assert.equal(res.status, 200);
  const { id } = await res.json();
  return { seen: id, echoed: res.headers.get(CORRELATION_ID_HEADER) };
}

describe('correlationIdMiddleware', () => {
  test('mints an id, exposes it to handlers and echoes it', async () => {
    const { seen, echoed } = await roundTrip(appWith());
    assert.match(seen, UUID_V4);
    assert.equal(echoed, seen);
  });

  test('keeps a valid incoming id', async () => {
    const { seen, echoed } = await roundTrip(appWith(), 'req-7:abc/def');
    assert.equal(seen, 'req-7:abc/def');
    assert.equal(echoed, 'req-7:abc/def');
  });

  test('replaces an invalid incoming id', async () => {
    for (const incoming of ['has space', '"q"', 'a'.repeat(256), '']) {
      const { seen, echoed } = await roundTrip(appWith(), incoming);
      assert.match(seen, UUID_V4, JSON.stringify(incoming));
      assert.equal(echoed, seen);
    }
  });

  test('options: version 7 and validate false', async () => {
    assert.match((await roundTrip(appWith({ version: 7 }))).seen, UUID_V7);
    assert.equal((await roundTrip(appWith({ validate: false }), 'has space')).seen, 'has space');
  });

  test('bad options throw a TypeError when the middleware is created', () => {
    assert.throws(() => correlationIdMiddleware({ version: 5 }), /version/);
    assert.throws(() => correlationIdMiddleware({ validate: 'no' }), /validate/);
  });

  test('the header reaches raw, immutable and error responses', async () => {
    const app = new Hono();
    app.use('*', correlationIdMiddleware());
    app.get('/raw', () => new Response('raw', { headers: { 'x-other': '1' } }));
    app.get('/redirect', () => Response.redirect('http://localhost/elsewhere', 302));
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.onError((_err, c) => c.text('failed', 500));
    const headers = { [CORRELATION_ID_HEADER]: 'req-9' };

    const raw = await app.request('/raw', { headers });
    assert.equal(raw.headers.get(CORRELATION_ID_HEADER), 'req-9');
    assert.equal(raw.headers.get('x-other'), '1');
    assert.equal(await raw.text(), 'raw');

    const redirect = await app.request('/redirect', { headers });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), 'http://localhost/elsewhere');
    assert.equal(redirect.headers.get(CORRELATION_ID_HEADER), 'req-9');

    const boom = await app.request('/boom', { headers });
    assert.equal(boom.status, 500);
    assert.equal(boom.headers.get(CORRELATION_ID_HEADER), 'req-9');

    const missing = await app.request('/nowhere', { headers });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get(CORRELATION_ID_HEADER), 'req-9');
  });
});

describe('orpcHeaders and applyResponseHeaders', () => {
  test('without the middleware, requestHeaders are the inbound headers', async () => {
    const app = new Hono();
    let pair;
    app.get('/', (c) => {
      pair = orpcHeaders(c);
      assert.equal(pair.requestHeaders, c.req.raw.headers);
      return c.text('ok');
    });
    await app.request('/', { headers: { [CORRELATION_ID_HEADER]: 'has space' } });
    assert.equal(pair.requestHeaders.get(CORRELATION_ID_HEADER), 'has space');
    assert.equal([...pair.responseHeaders].length, 0);
  });

  test("with the middleware, requestHeaders carry the middleware's id", async () => {
    const app = new Hono();
    app.use('*', correlationIdMiddleware());
    app.get('/', (c) => {
      const { requestHeaders } = orpcHeaders(c);
      assert.equal(requestHeaders.get('accept'), 'text/plain', 'other headers are kept');
      return c.json({ forwarded: requestHeaders.get(CORRELATION_ID_HEADER), id: c.get('correlationId') });
    });
    for (const incoming of [undefined, 'has space', 'req-1']) {
      const headers = { accept: 'text/plain' };
      if (incoming !== undefined) headers[CORRELATION_ID_HEADER] = incoming;
      const { forwarded, id } = await (await app.request('/', { headers })).json();
      assert.equal(forwarded, id);
      if (incoming === 'req-1') assert.equal(id, 'req-1');
    }
  });

  test('merges onto a mutable response in place', () => {
    const response = new Response('x', { headers: { 'x-a': 'old', 'set-cookie': 'a=1' } });
    const extra = new Headers({ 'x-a': 'new', 'x-b': '2' });
    extra.append('set-cookie', 'b=2');
    const merged = applyResponseHeaders(response, extra);
    assert.equal(merged, response);
    assert.equal(merged.headers.get('x-a'), 'new');
    assert.equal(merged.headers.get('x-b'), '2');
    assert.deepEqual(merged.headers.getSetCookie(), ['a=1', 'b=2']);
  });

  test('merges onto a response whose headers may be immutable (a redirect)', async () => {
    // Node makes a redirect's headers immutable (the merge goes to a copy);
    // Bun does not. Either way the returned response carries everything.
    const response = Response.redirect('http://localhost/next', 307);
    const merged = applyResponseHeaders(response, new Headers({ [CORRELATION_ID_HEADER]: 'id-1' }));
    assert.equal(merged.status, 307);
    assert.equal(merged.headers.get('location'), 'http://localhost/next');
    assert.equal(merged.headers.get(CORRELATION_ID_HEADER), 'id-1');
  });

  test('nothing to merge returns the response itself', () => {
    const response = Response.redirect('http://localhost/next', 307);
    assert.equal(applyResponseHeaders(response, new Headers()), response);
    assert.equal(applyResponseHeaders(response, undefined), response);
  });
});

describe('oRPC through Hono', () => {
  /** An app serving an oRPC router at /rpc, with or without the Hono middleware. */
  function rpcApp({ honoMiddleware }) {
    const logged = [];
    const baseLogger = {
      child: (meta) => ({ info: (message) => logged.push({ message, ...meta }) }),
      info: (message) => logged.push({ message }),
    };
    const router = {
      whoami: os.use(correlationMiddleware).handler(({ context }) => {
        context.logger.info('whoami');
        return { pluginId: context.pluginMetadata.pluginId };
      }),
    };
    const handler = new RPCHandler(router);
    const app = new Hono();
    if (honoMiddleware) app.use('*', correlationIdMiddleware());
    app.use('/rpc/*', async (c, next) => {
      const pair = orpcHeaders(c);
      const { matched, response } = await handler.handle(c.req.raw, {
        prefix: '/rpc',
        context: { ...pair, logger: baseLogger, pluginMetadata: { pluginId: 'demo' } },
      });
      if (matched) return applyResponseHeaders(response, pair.responseHeaders);
      await next();
    });
    return { app, logged };
  }

  /** Calls the `whoami` procedure over the RPC protocol. */
  async function whoami(app, incoming) {
    const headers = { 'content-type': 'application/json' };
    if (incoming !== undefined) headers[CORRELATION_ID_HEADER] = incoming;
    const res = await app.request('/rpc/whoami', { method: 'POST', headers, body: JSON.stringify({ json: null }) });
    assert.equal(res.status, 200, await res.clone().text());
    return { body: await res.json(), echoed: res.headers.get(CORRELATION_ID_HEADER) };
  }

  for (const honoMiddleware of [false, true]) {
    const label = honoMiddleware ? 'with' : 'without';
    test(`${label} the Hono middleware: a valid incoming id round-trips`, async () => {
      const { app, logged } = rpcApp({ honoMiddleware });
      const { body, echoed } = await whoami(app, 'req-rpc-1');
      assert.deepEqual(body, { json: { pluginId: 'demo' } });
      assert.equal(echoed, 'req-rpc-1');
      assert.deepEqual(logged, [{ message: 'whoami', correlationId: 'req-rpc-1', pluginId: 'demo' }]);
    });

    test(`${label} the Hono middleware: one minted id for log and response`, async () => {
      const { app, logged } = rpcApp({ honoMiddleware });
      for (const incoming of [undefined, 'has space']) {
        logged.length = 0;
        const { echoed } = await whoami(app, incoming);
        assert.match(echoed, UUID_V4);
        assert.equal(logged[0].correlationId, echoed);
      }
    });
  }
});

describe('scriptcage/hono entry points', () => {
  test('require and import resolve through the package exports', async () => {
    assert.equal(require.resolve('scriptcage/hono'), path.join(ROOT, 'js', 'hono.js'));
    const esm = await import('scriptcage/hono');
    assert.equal(esm.correlationIdMiddleware, correlationIdMiddleware);
    assert.equal(esm.orpcHeaders, orpcHeaders);
    assert.equal(esm.applyResponseHeaders, applyResponseHeaders);
    assert.equal(esm.CORRELATION_ID_HEADER, 'x-correlation-id');
  });
});
