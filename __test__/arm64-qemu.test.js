'use strict';

// The linux-arm64 binary (scriptcage.linux-arm64-gnu.node, built by
// `npm run build:cross`) loaded by an arm64 Node under qemu-user, checked on
// what needs no sandbox: correlation ids, the script transforms, policy
// validation and the capability probe. The same probe runs under the host's
// Node on the x64 binary and the two answers must agree, so the arm64 build
// behaves as the one every other test exercises. Namespaces, seccomp and
// Landlock cannot be exercised under qemu-user (it rejects the namespace
// clone flags); the README's platform table lists them as untested.
// Skipped, with the reason, when the cross toolchain or qemu is absent;
// under CI=true it must run. Runs under `node --test` and `bun test`.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { ARM64_BINARY, arm64Skip, requireArm64, runArm64Node } = require('./helpers/qemu.js');
const { findNode } = require('./helpers/runtimes.js');

const root = path.join(__dirname, '..');

// Prints one JSON line of everything checked; runs unchanged on both archs.
const PROBE = `
const path = require('node:path');
const sc = require(${JSON.stringify(path.join(root, 'js', 'index.js'))});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-([47])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const attempt = (f) => { try { return { ok: f() }; } catch (e) { return { error: e.name + ': ' + e.message }; } };
const v4 = sc.correlationId();
const v7 = sc.correlationId(null, { version: 7 });
const out = {
  arch: process.arch,
  loaded: Object.keys(require.cache).filter((k) => k.endsWith('.node')).map((k) => path.basename(k)),
  correlation: {
    v4: (v4.match(UUID) || [])[1], v7: (v7.match(UUID) || [])[1], distinct: sc.correlationId() !== v4,
    kept: ['abc-123', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x'.repeat(255)].map((s) => sc.correlationId(s) === s),
    replaced: ['', 'has space', 'crlf\\r\\ninjected', '"quoted"', 'x'.repeat(256)].map((s) => UUID.test(sc.correlationId(s))),
    unvalidated: sc.correlationId('has space', { validate: false }),
    badOptions: attempt(() => sc.correlationId('a', { version: 5 })),
  },
  normalise: ['return 1 + 1', 'export default 2', '  import x from "y";\\nexport default x', 'const a = 1;\\nawait a'].map((s) => sc.normaliseUserScript(s)),
  rewrite: [
    sc.rewriteHelperImports({ userScript: 'import { a } from "@scope/h.v1";\\nimport "@scope/h.v1";\\nimport b from \\'@scope/h.v1\\';\\nconst s = "@scope/h.v1";\\nimport c from "@scope/hXv1";', helperModuleName: '@scope/h.v1', helperUrl: 'file:///tmp/h "1".mjs' }),
    attempt(() => sc.rewriteHelperImports({ userScript: 1, helperModuleName: 'h', helperUrl: 'u' })),
  ],
  policy: {
    strict: sc.configureSandbox({ profile: 'strict' }),
    merged: sc.configureSandbox({ profile: 'standard', resources: { memoryBytes: 64 * 1024 * 1024 }, network: { mode: 'deny' } }),
    errors: [
      { profile: 'bogus' }, { onUnavailable: 'maybe' }, { resources: { memoryBytes: -1 } }, { resources: { cpuSeconds: 'x' } },
      { filesystem: { mode: 'everything' } }, { network: { mode: 'allowlist', allow: [42] } }, { privilege: { mode: 'root' } }, 42, null,
    ].map((p) => attempt(() => sc.configureSandbox(p))),
    after: sc.getSandboxPolicy(),
  },
  capabilities: sc.sandboxCapabilities(),
};
console.log(JSON.stringify(out));
`;

function parse(r, what) {
  assert.equal(r.status, 0, `${what} exited ${r.status} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** The environment for the probes: no sandbox override from the outer run. */
function probeEnv() {
  const env = { ...process.env };
  delete env.SCRIPTCAGE_SANDBOX;
  delete env.NODE_OPTIONS;
  return env;
}

const skip = arm64Skip();
// bun test does not print a suite's skip reason: say it here.
if (skip && process.versions.bun) console.log(`# arm64-qemu.test.js skipped: ${skip}`);

describe('linux-arm64 binary under qemu-user', { skip }, () => {
  let arm;
  let x64;

  test('an arm64 Node loads scriptcage.linux-arm64-gnu.node through the package entry', () => {
    requireArm64();
    arm = parse(runArm64Node(['-e', PROBE], { env: probeEnv() }), 'arm64 node (qemu)');
    assert.equal(arm.arch, 'arm64');
    assert.deepEqual(arm.loaded, [ARM64_BINARY]);
  });

  test('correlation ids: minted UUIDs v4/v7, acceptable ids kept, others replaced', () => {
    assert.ok(arm, 'the arm64 probe ran');
    const c = arm.correlation;
    assert.equal(c.v4, '4');
    assert.equal(c.v7, '7');
    assert.equal(c.distinct, true);
    assert.deepEqual(c.kept, [true, true, true]);
    assert.deepEqual(c.replaced, [true, true, true, true, true]);
    assert.equal(c.unvalidated, 'has space');
    assert.match(c.badOptions.error, /^TypeError: .*version/);
  });

  test('normaliseUserScript and rewriteHelperImports', () => {
    assert.ok(arm, 'the arm64 probe ran');
    assert.equal(arm.normalise[0], 'export default await (async () => {\nreturn 1 + 1\n})();\n');
    assert.equal(arm.normalise[1], 'export default 2');
    assert.equal(arm.normalise[2], '  import x from "y";\nexport default x');
    const [rewritten, bad] = arm.rewrite;
    const url = JSON.stringify('file:///tmp/h "1".mjs');
    assert.equal(
      rewritten,
      `import { a } from ${url};\nimport ${url};\nimport b from ${url};\nconst s = "@scope/h.v1";\nimport c from "@scope/hXv1";`,
    );
    assert.match(bad.error, /^TypeError: userScript/);
  });

  test('policy validation: every bad policy is a TypeError naming the field, the policy stays', () => {
    assert.ok(arm, 'the arm64 probe ran');
    const p = arm.policy;
    assert.equal(p.strict.enabled, true);
    assert.equal(p.merged.resources.memoryBytes, 64 * 1024 * 1024);
    assert.equal(p.merged.network.mode, 'deny');
    const fields = ['profile', 'onUnavailable', 'resources.memoryBytes', 'resources.cpuSeconds', 'filesystem.mode', 'network.allow[0]', 'privilege.mode', 'policy', 'policy'];
    p.errors.forEach((e, i) => {
      assert.ok(e.error, `policy #${i} was accepted: ${JSON.stringify(e)}`);
      assert.ok(e.error.startsWith(`TypeError: ${fields[i]}: `), `policy #${i} is a TypeError naming ${fields[i]}: ${e.error}`);
    });
    assert.deepEqual(p.after, p.merged, 'rejected policies leave the configured one in place');
  });

  test('sandboxCapabilities() answers with the documented shape', () => {
    assert.ok(arm, 'the arm64 probe ran');
    const caps = arm.capabilities;
    assert.equal(caps.platform, 'linux');
    for (const k of ['isRoot', 'userNamespaces', 'seccomp', 'cgroupV2', 'simulated']) assert.equal(typeof caps[k], 'boolean', k);
    assert.equal(typeof caps.landlockAbi, 'number');
    // qemu-user refuses the namespace clone: the probe says so instead of crashing.
    if (!caps.userNamespaces) assert.equal(typeof caps.userNamespacesReason, 'string');
  });

  test('the arm64 answers equal the x64 binary\'s (capabilities aside: they describe the emulator)', { skip: !findNode() && 'no Node binary' }, () => {
    assert.ok(arm, 'the arm64 probe ran');
    x64 = parse(spawnSync(findNode(), ['-e', PROBE], { env: probeEnv(), encoding: 'utf8', timeout: 60000 }), 'host node');
    assert.deepEqual(x64.loaded, [`scriptcage.linux-${process.arch}-gnu.node`]);
    const strip = ({ arch, loaded, capabilities, ...rest }) => rest;
    assert.deepEqual(strip(arm), strip(x64));
    assert.deepEqual(Object.keys(arm.capabilities).sort(), Object.keys(x64.capabilities).sort());
  });
});
