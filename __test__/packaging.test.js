'use strict';

// Packaging (api.md §1): `npm pack` the repository, install the tarball into
// an empty project with install scripts disabled, and use it from there with
// require and import, under Node and under Bun, plus the installed CLI.
// Runs under `node --test` and `bun test`; needs npm and the prebuilt
// scriptcage.linux-x64-gnu.node (`node scripts/ensure-built.js`). The
// linux-arm64 binary (`npm run build:cross`) must be in the tarball when it is
// built (always under CI=true), and the installed package loads it under
// qemu-user when that is available (helpers/qemu.js).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pkg = require('../package.json');
const { ARM64_BINARY, IS_CI, arm64Skip, runArm64Node } = require('./helpers/qemu.js');

const BINARY = `scriptcage.linux-${process.arch}-gnu.node`;
/** The binaries this tarball must carry: every platform whose binary is built (all under CI). */
const BINARIES = [...new Set([BINARY, ...(IS_CI || fs.existsSync(path.join(root, ARM64_BINARY)) ? [ARM64_BINARY] : [])])];
// Each platform's sandbox helper executable ships beside its addon (docs/spawn.md).
const HELPERS = BINARIES.map((b) => b.replace(/^scriptcage\.(.*)\.node$/, 'scriptcage-helper.$1'));
const { findNode, findBun } = require('./helpers/runtimes.js');

const NODE = findNode();
const BUN = findBun();

/**
 * The environment for child processes: no npm_* variables of an outer
 * `npm test` (npm_config_local_prefix would point the inner npm at the
 * repository), Node first on PATH, and no sandbox override.
 */
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== 'SCRIPTCAGE_SANDBOX' && k !== 'NODE_OPTIONS') env[k] = v;
  }
  if (NODE) env.PATH = `${path.dirname(NODE)}${path.delimiter}${env.PATH || ''}`;
  return env;
}

function run(cmd, args, cwd, timeout = 180000) {
  const r = spawnSync(cmd, args, { cwd, env: childEnv(), encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return r;
}

function check(r, what) {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}, signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** A note in the test report (bun's node:test has no t.diagnostic). */
function note(t, message) {
  if (t && typeof t.diagnostic === 'function') t.diagnostic(message);
  else console.log(`# ${message}`);
}

/** The last line of output: what the snippet printed after any warnings. */
function lastLine(text) {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1];
}

const skipReason = !fs.existsSync(path.join(root, BINARY))
  ? `${BINARY} is not built (run node scripts/ensure-built.js)`
  : !NODE
    ? 'no Node binary on PATH'
    : false;

describe('npm pack tarball', { skip: skipReason }, () => {
  let work;
  let tarball;
  let packed; // paths inside the tarball
  let packedModes; // path → file mode inside the tarball
  let project; // an empty project with the tarball installed

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-pack-test-'));
    const dest = path.join(work, 'pack');
    fs.mkdirSync(dest);
    const npmCli = 'npm';
    const out = check(
      run(npmCli, ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], root),
      'npm pack',
    );
    // npm may print notices before the JSON array.
    const info = JSON.parse(out.slice(out.indexOf('[')))[0];
    tarball = path.join(dest, info.filename);
    packed = info.files.map((f) => f.path);
    packedModes = Object.fromEntries(info.files.map((f) => [f.path, f.mode]));

    project = path.join(work, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'scriptcage-consumer', version: '1.0.0', private: true }, null, 2),
    );
    check(
      run(npmCli, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], project),
      'npm install <tarball>',
    );
  });

  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the tarball carries the prebuilt binary, loader, JS, types and CLI', (t) => {
    assert.ok(fs.existsSync(tarball), tarball);
    const required = [
      'package.json',
      ...BINARIES,
      ...HELPERS,
      'index.js',
      'js/index.js',
      'js/index.mjs',
      'js/shell.js',
      'bin/scriptcage.js',
      'LICENSE',
    ];
    for (const f of required) assert.ok(packed.includes(f), `tarball contains ${f}; it has ${packed.join(', ')}`);
    if (!BINARIES.includes(ARM64_BINARY)) note(t, `${ARM64_BINARY} is not built (npm run build:cross): not checked`);
    for (const h of HELPERS) assert.ok((packedModes[h] & 0o111) !== 0, `${h} is packed executable (mode ${packedModes[h]})`);
    for (const f of ['index.d.ts', 'native.d.ts', 'README.md']) {
      if (fs.existsSync(path.join(root, f))) assert.ok(packed.includes(f), `tarball contains ${f}`);
      else note(t, `${f} does not exist yet: not checked`);
    }
    // Every file the exports map names is shipped.
    for (const [entry, target] of Object.entries(pkg.exports || {})) {
      const targets = typeof target === 'string' ? [target] : Object.values(target);
      for (const file of targets) {
        if (!fs.existsSync(path.join(root, file))) {
          note(t, `exports["${entry}"] names ${file}, which does not exist yet`);
          continue;
        }
        assert.ok(packed.includes(file.replace(/^\.\//, '')), `tarball contains ${file} (exports["${entry}"])`);
      }
    }
    for (const f of packed) {
      assert.doesNotMatch(f, /^(src|target|__test__|node_modules|scripts|bench|docs|\.ci|\.git)\//, `tarball must not contain ${f}`);
      assert.doesNotMatch(f, /^(Cargo\.(toml|lock)|build\.rs|package-lock\.json)$/, `tarball must not contain ${f}`);
      assert.doesNotMatch(f, /\.tgz$/, `tarball must not contain ${f}`);
    }
  });

  test('the manifest builds nothing on install and declares no runtime dependencies', () => {
    const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'scriptcage', 'package.json'), 'utf8'));
    const scripts = installed.scripts || {};
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
      assert.equal(scripts[hook], undefined, `no ${hook} script`);
    }
    assert.deepEqual(installed.dependencies || {}, {});
    assert.equal(installed.bin.scriptcage, 'bin/scriptcage.js');
    for (const b of BINARIES) assert.ok(fs.existsSync(path.join(project, 'node_modules', 'scriptcage', b)), b);
    // The installed package is the packed one, not a link to the repository.
    assert.ok(!fs.lstatSync(path.join(project, 'node_modules', 'scriptcage')).isSymbolicLink());
  });

  const CJS_SNIPPET = [
    "const sc = require('scriptcage');",
    "const version = require('scriptcage/package.json').version;",
    "const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node')).map((k) => require('node:path').relative(require('node:path').dirname(require.resolve('scriptcage/package.json')), k));",
    'Promise.all([',
    "  sc.runEsmScript({ script: 'export default 1+1', context: {}, timeoutMs: 10000 }),",
    "  sc.runShellScript({ script: 'echo shell-ok', timeoutMs: 10000 }),",
    ']).then(([esm, shell]) => console.log(JSON.stringify({',
    '  result: esm.result, error: esm.error, shell: shell.stdout, exitCode: shell.exitCode,',
    '  header: sc.CORRELATION_ID_HEADER, id: sc.correlationId(), version, loaded,',
    "  fns: ['runEsmScript', 'runShellScript', 'normaliseUserScript', 'rewriteHelperImports', 'configureSandbox', 'getSandboxPolicy', 'sandboxCapabilities', 'correlationId'].every((n) => typeof sc[n] === 'function'),",
    '})));',
  ].join('\n');

  const ESM_SNIPPET = [
    "import { runEsmScript, runShellScript, defaultEsmScriptRunner, defaultShellScriptRunner, normaliseUserScript, rewriteHelperImports, configureSandbox, getSandboxPolicy, sandboxCapabilities, correlationId, CORRELATION_ID_HEADER } from 'scriptcage';",
    "import scriptcage from 'scriptcage';",
    "import { createRequire } from 'node:module';",
    'const cjs = createRequire(import.meta.url)("scriptcage");',
    "const esm = await runEsmScript({ script: 'export default (ctx) => ctx.a * 2', context: { a: 21 }, timeoutMs: 10000 });",
    "const shell = await defaultShellScriptRunner.run({ script: 'echo shell-ok', timeoutMs: 10000 });",
    'console.log(JSON.stringify({',
    '  result: esm.result, error: esm.error, shell: shell.stdout, exitCode: shell.exitCode,',
    '  header: CORRELATION_ID_HEADER, id: correlationId(),',
    '  sameObjects: scriptcage === cjs && runEsmScript === cjs.runEsmScript && runShellScript === cjs.runShellScript,',
    '  fns: [runEsmScript, runShellScript, defaultEsmScriptRunner.run, normaliseUserScript, rewriteHelperImports, configureSandbox, getSandboxPolicy, sandboxCapabilities].every((f) => typeof f === "function"),',
    '  missing: Object.keys(cjs).filter((k) => !k.startsWith("_") && !(k in scriptcage)),',
    '}));',
  ].join('\n');

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  function checkCjs(out) {
    const r = JSON.parse(lastLine(out));
    assert.equal(r.error, undefined, out);
    assert.equal(r.result, 2);
    assert.equal(r.shell, 'shell-ok');
    assert.equal(r.exitCode, 0);
    assert.equal(r.header, 'x-correlation-id');
    assert.match(r.id, UUID);
    assert.equal(r.version, pkg.version);
    assert.equal(r.fns, true);
    assert.deepEqual(r.loaded, [`scriptcage.linux-${process.arch}-gnu.node`], 'the binary for this machine loaded');
  }

  function checkEsm(out) {
    const r = JSON.parse(lastLine(out));
    assert.equal(r.error, undefined, out);
    assert.equal(r.result, 42);
    assert.equal(r.shell, 'shell-ok');
    assert.equal(r.exitCode, 0);
    assert.equal(r.header, 'x-correlation-id');
    assert.match(r.id, UUID);
    assert.equal(r.sameObjects, true, 'import and require give the same objects');
    assert.equal(r.fns, true);
    assert.deepEqual(r.missing, [], 'every CommonJS export is importable');
  }

  function writeEsm() {
    const file = path.join(project, 'esm-consumer.mjs');
    fs.writeFileSync(file, `${ESM_SNIPPET}\n`);
    return file;
  }

  test('node: require("scriptcage") runs a script', () => {
    checkCjs(check(run(NODE, ['-e', CJS_SNIPPET], project), 'node -e require'));
  });

  test('node: import from "scriptcage" in an .mjs file', () => {
    checkEsm(check(run(NODE, [writeEsm()], project), 'node esm-consumer.mjs'));
  });

  test('bun: require("scriptcage") runs a script', { skip: !BUN && 'no bun binary' }, () => {
    checkCjs(check(run(BUN, ['-e', CJS_SNIPPET], project), 'bun -e require'));
  });

  test('bun: import from "scriptcage" in an .mjs file', { skip: !BUN && 'no bun binary' }, () => {
    checkEsm(check(run(BUN, [writeEsm()], project), 'bun esm-consumer.mjs'));
  });

  // The optional peers come from the repository's node_modules, linked into
  // the consumer (their own dependencies resolve from the link's target).
  const PEERS = ['hono', '@orpc/server'];
  const peersMissing = PEERS.filter((p) => !fs.existsSync(path.join(root, 'node_modules', p, 'package.json')));

  function linkPeers() {
    for (const p of PEERS) {
      const link = path.join(project, 'node_modules', p);
      if (fs.existsSync(link)) continue;
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules', p), link, 'dir');
    }
  }

  const SUBPATH_CJS = [
    "const hono = require('scriptcage/hono');",
    "const orpc = require('scriptcage/orpc');",
    'console.log(JSON.stringify({ hono: typeof hono.correlationIdMiddleware, header: hono.CORRELATION_ID_HEADER, orpc: typeof orpc.correlationMiddleware }));',
  ].join('\n');
  const SUBPATH_ESM = [
    "import { correlationIdMiddleware, CORRELATION_ID_HEADER } from 'scriptcage/hono';",
    "import { correlationMiddleware } from 'scriptcage/orpc';",
    'console.log(JSON.stringify({ hono: typeof correlationIdMiddleware, header: CORRELATION_ID_HEADER, orpc: typeof correlationMiddleware }));',
  ].join('\n');

  function checkSubpaths(out) {
    const r = JSON.parse(lastLine(out));
    assert.equal(r.hono, 'function');
    assert.equal(r.header, 'x-correlation-id');
    assert.notEqual(r.orpc, 'undefined');
  }

  for (const [name, runtime] of [['node', () => NODE], ['bun', () => BUN]]) {
    const skip = peersMissing.length > 0 ? `peers not installed in the repository: ${peersMissing.join(', ')}` : name === 'bun' && !BUN && 'no bun binary';
    test(`${name}: scriptcage/hono and scriptcage/orpc load with require and import`, { skip }, () => {
      linkPeers();
      checkSubpaths(check(run(runtime(), ['-e', SUBPATH_CJS], project), `${name} -e require subpaths`));
      const file = path.join(project, 'subpaths.mjs');
      fs.writeFileSync(file, `${SUBPATH_ESM}\n`);
      checkSubpaths(check(run(runtime(), [file], project), `${name} subpaths.mjs`));
    });
  }

  test('the installed CLI (node_modules/.bin/scriptcage) runs a script from stdin', () => {
    const bin = path.join(project, 'node_modules', '.bin', 'scriptcage');
    assert.ok(fs.existsSync(bin), bin);
    const r = spawnSync(bin, ['run', '-', '--context', '{"n":4}'], {
      cwd: project,
      env: childEnv(),
      encoding: 'utf8',
      input: 'export default (ctx) => ctx.n * ctx.n;\n',
      timeout: 60000,
    });
    assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).result, 16);

    const bad = spawnSync(bin, ['run', '-', '--timeout', '0'], { cwd: project, env: childEnv(), encoding: 'utf8', input: '' });
    assert.equal(bad.status, 2, bad.stderr);
  });

  // The same installed package on linux-arm64 (qemu-user here): its loader
  // picks the arm64 binary. Running scripts needs child processes of the
  // emulated Node, which qemu-user without binfmt cannot start: not run here.
  test('arm64: the installed package loads scriptcage.linux-arm64-gnu.node', { skip: arm64Skip() }, () => {
    const snippet = [
      "const sc = require('scriptcage');",
      "const base = require('node:path').dirname(require.resolve('scriptcage/package.json'));",
      "const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node')).map((k) => require('node:path').relative(base, k));",
      "console.log(JSON.stringify({ arch: process.arch, loaded, id: sc.correlationId(), kept: sc.correlationId('abc-1'), header: sc.CORRELATION_ID_HEADER }));",
    ].join('\n');
    const r = JSON.parse(lastLine(check(runArm64Node(['-e', snippet], { cwd: project, env: childEnv() }), 'arm64 node -e require')));
    assert.equal(r.arch, 'arm64');
    assert.deepEqual(r.loaded, [ARM64_BINARY]);
    assert.match(r.id, UUID);
    assert.equal(r.kept, 'abc-1');
    assert.equal(r.header, 'x-correlation-id');
  });

  test('bun: the installed CLI runs under bun', { skip: !BUN && 'no bun binary' }, () => {
    const cli = path.join(project, 'node_modules', 'scriptcage', 'bin', 'scriptcage.js');
    const r = spawnSync(BUN, [cli, 'run', '-', '--shell'], {
      cwd: project,
      env: childEnv(),
      encoding: 'utf8',
      input: 'echo from-bun-cli\n',
      timeout: 60000,
    });
    assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).stdout, 'from-bun-cli');
  });
});
