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

// ---------------------------------------------------------------- the lab

const path = require('node:path');
const { LAB, labSkip, runInLab } = require('./helpers/netlab.js');

const labSkipped = labSkip() || false;
if (labSkipped && process.versions.bun) console.log(`# network.test.js lab skipped: ${labSkipped}`);
const HOST = path.join(__dirname, 'helpers', 'net-host.js');
const RUNTIMES = ['node', 'bun'];

async function lab(runtime, policy, { warm = false, unprivileged = false, env = {} } = {}) {
  const r = await runInLab({ runtime, unprivileged, hostScript: HOST, args: [JSON.stringify(policy), warm ? 'warm' : 'cold'], env, timeoutMs: 180000 });
  assert.equal(r.result.crash, undefined, r.result.crash);
  assert.equal(r.result.esm.error, undefined, `${r.result.esm.error}\n${r.result.esm.stderr}`);
  return r.result;
}

const ok = (v, what) => assert.match(String(v), /^ok/, `${what}: ${v}`);
const refused = (v, what) => assert.match(String(v), /^ERR EACCES .*EACCES/, `${what} must fail with EACCES: ${v}`);
const notReached = (v, what) => assert.match(String(v), /^ERR/, `${what} must fail: ${v}`);

function assertStandard(res) {
  const e = res.esm.result;
  for (const k of ['fetch public', 'fetch publicName', 'fetch private', 'fetch suffixA', 'fetch publicAlt', 'http public', 'tcp public']) ok(e[k], k);
  for (const k of ['fetch metadata', 'fetch mapped', 'http metadata', 'tcp metadata']) refused(e[k], k);
  // Bun's fetch by name reports the last address family it tried.
  assert.match(e['fetch metaName'], /^ERR (EACCES|ECONNREFUSED)/, `fetch metaName: ${e['fetch metaName']}`);
  assert.match(e['http metadata'], new RegExp(`connect EACCES ${LAB.metadata.replace(/\./g, '\\.')}:80`), 'a clear error naming the destination');
  // 127.0.0.1 is the run's own loopback: the host's service is not there.
  for (const k of ['fetch loopback', 'tcp loopback']) notReached(e[k], k);
  // The rebinding name answers public, then metadata: the connected address is checked.
  for (const k of ['fetch rebind1', 'fetch rebind2']) assert.match(e[k], /^ok public|^ERR (EACCES|ECONNREFUSED)/, `${k}: ${e[k]}`);
  assert.equal(e['lookup public.test'], `ok ${LAB.public}`);
  assert.equal(e['lookup private.test'], `ok ${LAB.private}`);
  assert.equal(e['resolve public.test'], `ok ${LAB.public}`, 'dns.resolve4 (c-ares) is answered by the stub too');
  notReached(e['udp public'], 'UDP other than DNS');
  // The report.
  const sb = res.esm.sandbox;
  assert.equal(sb.enforced.network, true, JSON.stringify(sb.downgrades));
  assert.deepEqual(sb.downgrades, []);
  const conns = sb.network.connections;
  assert.ok(conns.some((c) => c.destination === `${LAB.metadata}:80` && c.verdict === 'refused' && /link-local\/metadata/.test(c.reason)), JSON.stringify(conns));
  assert.ok(conns.some((c) => c.destination === `${LAB.public}:80` && c.verdict === 'allowed'), JSON.stringify(conns));
  assert.ok(conns.some((c) => c.name === 'meta.test' && c.verdict === 'refused'), 'names answered by the stub are in the log');
  assert.ok(!conns.some((c) => c.destination.includes(LAB.metadata) && c.verdict === 'allowed'), 'metadata never allowed (rebinding included)');
  assert.equal(typeof sb.network.dropped, 'number');
  // Shell: curl / wget when present.
  const sh = res.shell;
  assert.equal(sh.exitCode, 0, JSON.stringify(sh));
  assert.match(sh.stdout, /done$/);
  for (const line of sh.stdout.split('\n').filter((l) => /^(curl|wget) /.test(l))) {
    assert.match(line, /^(curl|wget) ok fail$/, `public reachable, metadata not: ${line}`);
  }
  assert.equal(sh.sandbox.enforced.network, true);
  assert.ok(sh.sandbox.network.connections.every((c) => c.verdict === 'refused' || !c.destination.includes(LAB.metadata)));
}

describe('network rules in a lab', { skip: labSkipped }, () => {
  for (const runtime of RUNTIMES) {
    for (const warm of [false, true]) {
      test(`[${runtime}${warm ? ', warm' : ''}] standard: public and private reachable, metadata and host loopback not`, LONG, async () => {
        assertStandard(await lab(runtime, {}, { warm }));
      });
    }
    test(`[${runtime}, unprivileged host] standard`, LONG, async () => {
      assertStandard(await lab(runtime, {}, { unprivileged: true }));
    });

    test(`[${runtime}] allowlist by host, *.suffix, CIDR and port; always-blocked wins; DNS only for allowed names`, LONG, async () => {
      const res = await lab(runtime, { network: { mode: 'allowlist', allow: ['*.allowed.test', '10.1.0.0/24:80', 'public.test:8080', LAB.metadata] } });
      const e = res.esm.result;
      refused(e['fetch public'], 'a literal address not in the list');
      ok(e['fetch private'], 'CIDR with port');
      ok(e['fetch suffixA'], '*.suffix');
      ok(e['fetch publicAlt'], 'host:port (the address public.test answered)');
      refused(e['fetch metadata'], 'always blocked, even listed literally');
      assert.match(e['fetch metaName'], /ENOTFOUND|EAI_AGAIN/, `a name not allowed is not resolved: ${e['fetch metaName']}`);
      assert.match(e['lookup private.test'], /^ERR (ENOTFOUND|EAI_AGAIN)/);
      assert.match(e['resolve private.test'], /^ERR/, `dns.resolve4 of a name not allowed: ${e['resolve private.test']}`);
      assert.equal(e['lookup a.allowed.test'], `ok ${LAB.public}`);
      assert.equal(res.esm.sandbox.enforced.network, true);
      assert.deepEqual(res.esm.sandbox.downgrades, []);
      assert.ok(res.esm.sandbox.network.connections.some((c) => c.verdict === 'refused' && /not in network.allow/.test(c.reason)));
    });
  }

  test('[node] the probes can succeed: with the host network (denyLinkLocalAndMetadata: false) UDP and the metadata address answer', LONG, async () => {
    const res = await lab('node', { network: { denyLinkLocalAndMetadata: false } });
    ok(res.esm.result['udp public'], 'UDP echo on the host network');
    ok(res.esm.result['fetch metadata'], 'metadata on the host network');
    ok(res.esm.result['resolve public.test'], 'dns.resolve4 on the host network');
  });

  test('[node] denyPrivate blocks RFC 1918 too', LONG, async () => {
    const res = await lab('node', { network: { denyPrivate: true } });
    refused(res.esm.result['fetch private'], 'private under denyPrivate');
    ok(res.esm.result['fetch public'], 'public');
    assert.ok(res.esm.sandbox.network.connections.some((c) => /network.denyPrivate/.test(c.reason || '')));
  });

  test('[node] without the broker: loopback only, reported as a downgrade, refused under fail', LONG, async () => {
    const res = await lab('node', {}, { env: { SCRIPTCAGE_NET_BROKER: '0' } });
    assert.equal(res.caps.networkBroker, false);
    assert.match(res.caps.networkBrokerReason, /SCRIPTCAGE_NET_BROKER/);
    for (const k of ['fetch public', 'fetch private', 'fetch metadata']) notReached(res.esm.result[k], k);
    const sb = res.esm.sandbox;
    assert.equal(sb.enforced.network, false);
    assert.ok(sb.downgrades.some((d) => d.layer === 'network' && /loopback-only/.test(d.reason)), JSON.stringify(sb.downgrades));
    assert.equal(sb.network, undefined);
    const failing = await runInLab({ runtime: 'node', hostScript: HOST, args: [JSON.stringify({ onUnavailable: 'fail' })], env: { SCRIPTCAGE_NET_BROKER: '0' }, allowFailure: true });
    assert.match(String(failing.result && failing.result.esm.error), /onUnavailable: "fail".*network/);
  });
});
