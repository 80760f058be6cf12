'use strict';

// `npm test`: the Rust unit tests, the suite under Node's test runner, the
// same suite under Bun, and the sandbox's runtime-facing files under Node 22. Prints each runner's output and a closing
// "N passed, N failed" line that adds them up.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bun = path.join(root, 'node_modules', '.bin', 'bun');
const only = process.argv.slice(2);

function run(name, cmd, args, parse) {
  return new Promise((resolve) => {
    console.log(`\n=== ${name}: ${[path.basename(cmd), ...args].join(' ')}`);
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let text = '';
    const tee = (dst) => (chunk) => {
      dst.write(chunk);
      text += chunk.toString('utf8');
      if (text.length > 4_000_000) text = text.slice(-2_000_000);
    };
    child.stdout.on('data', tee(process.stdout));
    child.stderr.on('data', tee(process.stderr));
    child.on('close', (code) => {
      const counts = parse(text);
      if (code !== 0 && counts.failed === 0) counts.failed = 1; // a crash counts
      resolve({ name, code, ...counts });
    });
  });
}

function sum(text, re) {
  let n = 0;
  for (const m of text.matchAll(re)) n += Number(m[1]);
  return n;
}

// A fresh clone has no dev dependencies yet (Bun, oRPC, Hono, TypeScript,
// the napi CLI): install them from the lock file first.
if (!fs.existsSync(bun) || !fs.existsSync(path.join(root, 'node_modules', '@napi-rs', 'cli'))) {
  console.log('=== installing dev dependencies (npm ci)');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = require('node:child_process').spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status || 1);
}
require('./ensure-built.js');

const steps = [];
if (fs.existsSync(path.join(root, 'src')) && (only.length === 0 || only.includes('rust'))) {
  steps.push(() =>
    run('rust', 'cargo', ['test', '--workspace', '--quiet'], (t) => ({
      passed: sum(t, /test result: \w+\. (\d+) passed/g),
      failed: sum(t, /test result: \w+\. \d+ passed; (\d+) failed/g),
      skipped: sum(t, /; (\d+) ignored/g),
    })),
  );
}
const nodeArgs = ['--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', '__test__/'];
if (only.length === 0 || only.includes('node')) {
  steps.push(() =>
    run('node', process.execPath, nodeArgs, (t) => ({
      passed: sum(t, /^ℹ pass (\d+)$/gm),
      failed: sum(t, /^ℹ fail (\d+)$/gm),
      skipped: sum(t, /^ℹ skipped (\d+)$/gm),
    })),
  );
}
if (only.length === 0 || only.includes('bun')) {
  if (fs.existsSync(bun)) {
    steps.push(() =>
      run('bun', bun, ['test', '--timeout', '600000', './__test__/'], (t) => ({
        passed: sum(t, /^\s*(\d+) pass$/gm),
        failed: sum(t, /^\s*(\d+) fail$/gm),
        skipped: sum(t, /^\s*(\d+) skip$/gm),
      })),
    );
  } else {
    console.log('\n=== bun: skipped (node_modules/.bin/bun is missing: run npm install)');
  }
}

// Node 22: the files that exercise the runtime child under the sandbox
// (syscall filter, start, whole-run limits, modules, shell) run again with
// Node 22 as the host, whose runtime the runs then use. Its official build
// comes from the npm registry (node-linux-<arch>) into target/node22; under
// CI=true a failed fetch fails the step, elsewhere it is skipped.
const NODE22_FILES = ['seccomp.test.js', 'spawn.test.js', 'limits.test.js', 'esm-modules.test.js', 'shell.test.js'];

function node22() {
  const dir = path.join(root, 'target', 'node22');
  const exe = path.join(dir, 'package', 'bin', 'node');
  if (fs.existsSync(exe)) return exe;
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) return null;
  fs.mkdirSync(dir, { recursive: true });
  const { spawnSync } = require('node:child_process');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = spawnSync(npm, ['pack', '--silent', `node-linux-${process.arch}@22`], { cwd: dir, encoding: 'utf8' });
  const tgz = packed.status === 0 && packed.stdout.trim().split('\n').pop();
  if (!tgz || spawnSync('tar', ['xzf', tgz], { cwd: dir }).status !== 0) return null;
  fs.rmSync(path.join(dir, tgz), { force: true });
  return fs.existsSync(exe) ? exe : null;
}

if (only.length === 0 || only.includes('node22')) {
  steps.push(() => {
    const exe = node22();
    if (!exe) {
      const why = 'node22: could not fetch node-linux-' + process.arch + '@22 from the npm registry';
      console.log(`\n=== ${why}${process.env.CI === 'true' ? '' : ' (skipped)'}`);
      return { name: 'node22', code: process.env.CI === 'true' ? 1 : 0, passed: 0, failed: process.env.CI === 'true' ? 1 : 0, skipped: 0 };
    }
    const files = NODE22_FILES.map((f) => path.join('__test__', f));
    return run('node22', exe, ['--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...files], (t) => ({
      passed: sum(t, /^ℹ pass (\d+)$/gm),
      failed: sum(t, /^ℹ fail (\d+)$/gm),
      skipped: sum(t, /^ℹ skipped (\d+)$/gm),
    }));
  });
}

(async () => {
  const results = [];
  for (const step of steps) results.push(await step());
  console.log('\n=== summary');
  for (const r of results) console.log(`${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (exit ${r.code})`);
  const total = results.reduce((a, r) => ({ p: a.p + r.passed, f: a.f + r.failed, s: a.s + r.skipped }), { p: 0, f: 0, s: 0 });
  console.log(`scriptcage: ${total.p} passed, ${total.f} failed, ${total.s} skipped`);
  process.exit(results.every((r) => r.code === 0) && total.f === 0 ? 0 : 1);
})();
