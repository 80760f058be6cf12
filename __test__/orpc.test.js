'use strict';

// scriptcage/orpc: correlationMiddleware with a real @orpc/server, and the
// TypeScript consumer in __test__/types. Runs under `node --test` and `bun test`.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { os, call, ORPCError } = require('@orpc/server');
const { correlationMiddleware } = require('scriptcage/orpc');

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ROOT = path.join(__dirname, '..');

/**
 * A logger that records every line with the metadata bound on it; `child`
 * binds more. `withChild: false` gives a logger without `child`.
 */
function recordingLogger({ withChild = true } = {}) {
  const lines = [];
  const make = (bound) => {
    const logger = { bound, info: (message) => lines.push({ message, ...bound }) };
    if (withChild) logger.child = (meta) => make({ ...bound, ...meta });
    return logger;
  };
  return { lines, logger: make({}) };
}

/** A context like the seed's RpcContext, with overrides. */
function rpcContext(overrides = {}) {
  return {
    logger: recordingLogger().logger,
    pluginMetadata: { pluginId: 'healthcheck' },
    requestHeaders: new Headers(),
    responseHeaders: new Headers(),
    ...overrides,
  };
}

/** A procedure behind correlationMiddleware that returns its context. */
const echoContext = os.use(correlationMiddleware).handler(({ context }) => context);

/** Fails unless the context has a user with an id, logging through the context's logger. */
const autoAuth = os.middleware(async ({ context, next }) => {
  if (!context.user || !('id' in context.user)) {
    context.logger.info('unauthorised');
    throw new ORPCError('UNAUTHORIZED');
  }
  return next();
});

describe('correlationMiddleware decides the id', () => {
  test('mints a v4 id when the header is absent', async () => {
    const context = rpcContext();
    const out = await call(echoContext, undefined, { context });
    const id = out.logger.bound.correlationId;
    assert.match(id, UUID_V4);
    assert.equal(context.responseHeaders.get('x-correlation-id'), id);
  });

  test('mints a v4 id when the header is empty', async () => {
    const context = rpcContext({ requestHeaders: new Headers({ 'x-correlation-id': '' }) });
    const out = await call(echoContext, undefined, { context });
    assert.match(out.logger.bound.correlationId, UUID_V4);
  });

  test('mints when there are no request headers at all', async () => {
    const context = rpcContext({ requestHeaders: undefined });
    const out = await call(echoContext, undefined, { context });
    assert.match(out.logger.bound.correlationId, UUID_V4);
  });

  test('keeps a valid incoming id', async () => {
    for (const incoming of ['req-123', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'a'.repeat(255)]) {
      const context = rpcContext({ requestHeaders: new Headers({ 'x-correlation-id': incoming }) });
      const out = await call(echoContext, undefined, { context });
      assert.equal(out.logger.bound.correlationId, incoming);
      assert.equal(context.responseHeaders.get('x-correlation-id'), incoming);
    }
  });

  test('replaces an invalid incoming id', async () => {
    for (const incoming of ['has space', '"quoted"', 'a'.repeat(256), 'é']) {
      const context = rpcContext({ requestHeaders: new Headers({ 'x-correlation-id': incoming }) });
      const out = await call(echoContext, undefined, { context });
      const id = out.logger.bound.correlationId;
      assert.match(id, UUID_V4);
      assert.equal(context.responseHeaders.get('x-correlation-id'), id);
    }
  });

  test('a new id per request', async () => {
    const a = await call(echoContext, undefined, { context: rpcContext() });
    const b = await call(echoContext, undefined, { context: rpcContext() });
    assert.notEqual(a.logger.bound.correlationId, b.logger.bound.correlationId);
  });

  test('no response headers: the echo is skipped, the logger still gets the id', async () => {
    const out = await call(echoContext, undefined, { context: rpcContext({ responseHeaders: undefined }) });
    assert.match(out.logger.bound.correlationId, UUID_V4);
  });
});

describe('correlationMiddleware binds the logger', () => {
  test('binds correlationId and pluginId, and nothing else without a user', async () => {
    const headers = new Headers({ 'x-correlation-id': 'req-1' });
    const out = await call(echoContext, undefined, { context: rpcContext({ requestHeaders: headers }) });
    assert.deepEqual(out.logger.bound, { correlationId: 'req-1', pluginId: 'healthcheck' });
  });

  test('binds userId for a user with an id', async () => {
    const user = { type: 'user', id: 'u-42' };
    const out = await call(echoContext, undefined, { context: rpcContext({ user }) });
    assert.equal(out.logger.bound.userId, 'u-42');
  });

  test('binds no userId for users without an id, or no user', async () => {
    for (const user of [undefined, null, { type: 'anonymous' }, 'u-42', 42]) {
      const out = await call(echoContext, undefined, { context: rpcContext({ user }) });
      assert.equal('userId' in out.logger.bound, false, `user ${JSON.stringify(user)}`);
      assert.equal(out.user, user);
    }
  });

  test('a logger without child is passed on unchanged', async () => {
    const { logger } = recordingLogger({ withChild: false });
    const out = await call(echoContext, undefined, { context: rpcContext({ logger }) });
    assert.equal(out.logger, logger);
  });

  test('passes on only the logger: the rest of the context is untouched', async () => {
    const context = rpcContext({ extra: { keep: true } });
    const out = await call(echoContext, undefined, { context });
    assert.notEqual(out.logger, context.logger);
    assert.equal(out.pluginMetadata, context.pluginMetadata);
    assert.equal(out.requestHeaders, context.requestHeaders);
    assert.equal(out.responseHeaders, context.responseHeaders);
    assert.equal(out.extra, context.extra);
    assert.equal(context.logger.bound.correlationId, undefined, 'the base logger is not mutated');
  });

  test('an auth failure in a later middleware still logs with the id', async () => {
    const { lines, logger } = recordingLogger();
    const procedure = os.use(correlationMiddleware).use(autoAuth).handler(() => 'secret');
    const context = rpcContext({
      logger,
      requestHeaders: new Headers({ 'x-correlation-id': 'req-auth' }),
      user: undefined,
    });
    await assert.rejects(call(procedure, undefined, { context }), (err) => err.code === 'UNAUTHORIZED');
    assert.deepEqual(lines, [{ message: 'unauthorised', correlationId: 'req-auth', pluginId: 'healthcheck' }]);
    assert.equal(context.responseHeaders.get('x-correlation-id'), 'req-auth');
  });

  test('a missing pluginMetadata fails the call like the seed', async () => {
    const context = rpcContext({ pluginMetadata: undefined });
    await assert.rejects(call(echoContext, undefined, { context }), TypeError);
  });
});

describe('scriptcage/orpc entry points', () => {
  test('require resolves through the package exports', () => {
    assert.equal(require.resolve('scriptcage/orpc'), path.join(ROOT, 'js', 'orpc.js'));
    assert.equal(typeof correlationMiddleware, 'function');
    assert.equal(typeof correlationMiddleware.mapInput, 'function', 'an os.middleware(...) result');
  });

  test('import resolves through the package exports and works', async () => {
    const esm = await import('scriptcage/orpc');
    assert.equal(typeof esm.correlationMiddleware, 'function');
    const procedure = os.use(esm.correlationMiddleware).handler(({ context }) => context.logger.bound);
    const headers = new Headers({ 'x-correlation-id': 'req-esm' });
    const bound = await call(procedure, undefined, { context: rpcContext({ requestHeaders: headers }) });
    assert.equal(bound.correlationId, 'req-esm');
  });

  test('a TypeScript consumer type-checks with tsc --strict', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const tsconfig = path.join(__dirname, 'types', 'tsconfig.json');
    try {
      execFileSync(process.execPath, [tsc, '-p', tsconfig, '--strict', '--noEmit'], { cwd: ROOT, encoding: 'utf8' });
    } catch (err) {
      assert.fail(`tsc failed:\n${err.stdout || ''}${err.stderr || ''}`);
    }
  });
});
