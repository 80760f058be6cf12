'use strict';

// The network layer (docs/network.md): what a run may connect to under each
// mode, and whether the result's report says so honestly.
//
// Runs under `node --test` and `bun test`.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');

const { scriptcage, useProfile, restoreDefaultPolicy, esm, sh } = require('./helpers/common.js');

const LONG = { timeout: 120000 };

after(() => {
  restoreDefaultPolicy();
});

describe('network report honesty', () => {
  let server;
  let port;
  test('start a service on the host loopback', async () => {
    server = http.createServer((req, res) => res.end('host-loopback-ok'));
    await new Promise((res) => server.listen(0, '127.0.0.1', res));
    port = server.address().port;
  });
  after(() => server && server.close());

  const probe = `export default async (ctx) => {
    try { return await (await fetch('http://127.0.0.1:' + ctx.port + '/', { signal: AbortSignal.timeout(3000) })).text(); }
    catch (e) { return 'ERR ' + ((e.cause && e.cause.code) || e.code || e.name); }
  };`;

  test('unrestricted + denyLinkLocalAndMetadata: in force, or reported as a downgrade', LONG, async () => {
    useProfile('standard');
    const r = await esm(probe, { context: { port } });
    assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
    assert.equal(r.sandbox.requested.network.mode, 'unrestricted');
    assert.equal(r.sandbox.requested.network.denyLinkLocalAndMetadata, true);
    const d = r.sandbox.downgrades.find((x) => x.layer === 'network');
    if (r.result === 'host-loopback-ok') {
      // The host's loopback answered: the block is not in force and the report must say so.
      assert.equal(r.sandbox.enforced.network, false);
      assert.ok(d && /metadata/.test(d.reason) && /loopback/.test(d.reason), JSON.stringify(r.sandbox.downgrades));
    } else {
      assert.equal(r.sandbox.enforced.network, true, JSON.stringify(r.sandbox));
      assert.equal(d, undefined);
    }
  });

  test('a downgraded network layer is refused under onUnavailable "fail"', LONG, async () => {
    useProfile('standard', { onUnavailable: 'fail' });
    const r = await esm(probe, { context: { port } });
    if (r.sandbox.enforced.network) {
      assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
      assert.notEqual(r.result, 'host-loopback-ok');
    } else {
      assert.match(String(r.error), /onUnavailable: "fail".*network: .*metadata/);
      assert.equal(r.result, undefined);
    }
    const s = await sh('echo ran');
    if (!s.sandbox.enforced.network) {
      assert.equal(s.exitCode, -1);
      assert.match(s.stderr, /onUnavailable: "fail".*network: .*metadata/);
    }
  });

  test('denyLinkLocalAndMetadata: false is the host network, in force as asked', LONG, async () => {
    useProfile('standard', { onUnavailable: 'fail', network: { denyLinkLocalAndMetadata: false } });
    const r = await esm(probe, { context: { port } });
    assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
    assert.equal(r.result, 'host-loopback-ok');
    assert.equal(r.sandbox.enforced.network, true);
    assert.deepEqual(r.sandbox.downgrades.filter((x) => x.layer === 'network'), []);
  });
});
