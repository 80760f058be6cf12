'use strict';

// Platform check at import (js/platform.js, js/native.js): on a platform the
// package has no binary for, require('scriptcage') and import 'scriptcage'
// fail with an error naming the platform and the supported ones, not napi's
// generic "Cannot find native binding". Other platforms are faked in a child
// process (process.platform / process.arch redefined, /usr/bin/ldd read as
// musl's) before the package is loaded. Runs under `node --test` and
// `bun test`; the children run under Node and, when present, Bun.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pkg = require('../package.json');
const platform = require('../js/platform.js');
const { findNode, findBun } = require('./helpers/runtimes.js');

const SUPPORTED = ['linux-x64-gnu', 'linux-arm64-gnu'];
const HOST_BINARY = `scriptcage.linux-${process.arch}-gnu.node`;

/** [name, binary] of each runtime present, Node first. */
function runtimes() {
  return [['node', findNode()], ['bun', findBun()]].filter(([, exe]) => exe);
}

describe('supported platforms', () => {
  test('napi.targets lists linux x64 and arm64 (glibc), named as napi names the binaries', () => {
    assert.deepEqual(pkg.napi.targets, ['x86_64-unknown-linux-gnu', 'aarch64-unknown-linux-gnu']);
    assert.deepEqual(platform.supportedPlatforms(), SUPPORTED);
    assert.equal(platform.platformOfTriple('x86_64-unknown-linux-musl'), 'linux-x64-musl');
    assert.equal(platform.platformOfTriple('aarch64-apple-darwin'), 'darwin-arm64');
    assert.equal(platform.platformOfTriple('x86_64-pc-windows-msvc'), 'win32-x64-msvc');
  });

  test('this host is a supported platform', () => {
    assert.equal(platform.currentPlatform(), `linux-${process.arch}-gnu`);
    assert.equal(platform.linuxLibc(), 'gnu');
  });

  test('an unsupported platform: the error names it and every supported one', () => {
    const e = platform.unsupportedError('darwin-arm64', SUPPORTED);
    assert.ok(e instanceof Error);
    assert.equal(e.code, 'ERR_SCRIPTCAGE_UNSUPPORTED_PLATFORM');
    assert.equal(e.platform, 'darwin-arm64');
    assert.deepEqual(e.supportedPlatforms, SUPPORTED);
    assert.match(e.message, /no prebuilt binary for darwin-arm64 .*supported platforms: linux-x64-gnu, linux-arm64-gnu/);
  });

  test('a supported platform whose binary is not in the package: a different, precise error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-platform-'));
    try {
      const e = platform.unsupportedError('linux-arm64-gnu', SUPPORTED, dir);
      assert.equal(e.code, 'ERR_SCRIPTCAGE_BINARY_MISSING');
      assert.match(e.message, /scriptcage\.linux-arm64-gnu\.node\) is missing/);
      fs.writeFileSync(path.join(dir, 'scriptcage.linux-arm64-gnu.node'), '');
      assert.equal(platform.unsupportedError('linux-arm64-gnu', SUPPORTED, dir), null);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Fakes the platform named in SCRIPTCAGE_TEST_FAKE before anything loads.
const FAKE = `
const fs = require('node:fs');
const fake = JSON.parse(process.env.SCRIPTCAGE_TEST_FAKE || '{}');
if (fake.platform) Object.defineProperty(process, 'platform', { value: fake.platform });
if (fake.arch) Object.defineProperty(process, 'arch', { value: fake.arch });
if (fake.ldd) {
  const read = fs.readFileSync;
  fs.readFileSync = function (p, ...rest) { return p === '/usr/bin/ldd' ? fake.ldd : read.call(this, p, ...rest); };
}
`;
// require(): the error is catchable; the script prints what it caught.
const REQUIRE = `${FAKE}
try { require(${JSON.stringify(path.join(root, 'js', 'index.js'))}); console.log(JSON.stringify('loaded')); }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, platform: e.platform })); }
`;

let work;
/** An .mjs consumer whose first import applies the fake, the second is scriptcage's ESM entry. */
function esmConsumer() {
  if (!work) {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-platform-esm-'));
    fs.writeFileSync(path.join(work, 'fake.cjs'), FAKE);
    const entry = require('node:url').pathToFileURL(path.join(root, 'js', 'index.mjs')).href;
    fs.writeFileSync(
      path.join(work, 'consumer.mjs'),
      `import './fake.cjs';\nimport { correlationId } from ${JSON.stringify(entry)};\nconsole.log(JSON.stringify(typeof correlationId));\n`,
    );
  }
  return path.join(work, 'consumer.mjs');
}

function childEnv(fake, extra = {}) {
  const env = { ...process.env, SCRIPTCAGE_TEST_FAKE: JSON.stringify(fake), ...extra };
  if (!('NAPI_RS_NATIVE_LIBRARY_PATH' in extra)) delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  return env;
}

const FAKES = [
  ['darwin (Apple silicon)', { platform: 'darwin', arch: 'arm64' }, 'darwin-arm64'],
  ['darwin (Intel)', { platform: 'darwin', arch: 'x64' }, 'darwin-x64'],
  ['Windows', { platform: 'win32', arch: 'x64' }, 'win32-x64-msvc'],
  ['Alpine (musl)', { ldd: 'musl libc (x86_64)\nVersion 1.2.5\n' }, `linux-${process.arch}-musl`],
  ['linux-riscv64', { arch: 'riscv64' }, 'linux-riscv64-gnu'],
];

const skipChildren = !fs.existsSync(path.join(root, HOST_BINARY)) && `${HOST_BINARY} is not built`;

describe('import on a platform without a binary', { skip: skipChildren }, () => {
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  for (const [runtime, exe] of runtimes()) {
    for (const [what, fake, name] of FAKES) {
      test(`${runtime}, ${what}: require and import fail naming ${name} and the supported platforms`, () => {
        const r = spawnSync(exe, ['-e', REQUIRE], { cwd: root, env: childEnv(fake), encoding: 'utf8', timeout: 60000 });
        assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
        const caught = JSON.parse(r.stdout.trim().split('\n').pop());
        assert.equal(caught.code, 'ERR_SCRIPTCAGE_UNSUPPORTED_PLATFORM', JSON.stringify(caught));
        assert.equal(caught.platform, name);
        assert.ok(caught.message.includes(`no prebuilt binary for ${name} `), caught.message);
        assert.ok(caught.message.includes(`supported platforms: ${SUPPORTED.join(', ')}`), caught.message);

        // A static import fails the consumer at load with the same message.
        const m = spawnSync(exe, [esmConsumer()], { cwd: root, env: childEnv(fake), encoding: 'utf8', timeout: 60000 });
        assert.notEqual(m.status, 0, `the import must fail\nstdout: ${m.stdout}\nstderr: ${m.stderr}`);
        assert.ok(m.stderr.includes(`no prebuilt binary for ${name} `), m.stderr);
        assert.ok(m.stderr.includes(`supported platforms: ${SUPPORTED.join(', ')}`), m.stderr);
      });
    }

    test(`${runtime}: NAPI_RS_NATIVE_LIBRARY_PATH bypasses the check (the generated loader's override)`, () => {
      const env = childEnv({ platform: 'darwin', arch: 'arm64' }, { NAPI_RS_NATIVE_LIBRARY_PATH: path.join(root, HOST_BINARY) });
      const r = spawnSync(exe, ['-e', REQUIRE], { cwd: root, env, encoding: 'utf8', timeout: 60000 });
      assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()), 'loaded');
      const m = spawnSync(exe, [esmConsumer()], { cwd: root, env, encoding: 'utf8', timeout: 60000 });
      assert.equal(m.status, 0, `stdout: ${m.stdout}\nstderr: ${m.stderr}`);
      assert.equal(JSON.parse(m.stdout.trim().split('\n').pop()), 'function');
    });
  }
});
