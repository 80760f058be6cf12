'use strict';

// When this suite runs as root, re-runs sandbox-hostile.test.js,
// shell.test.js and limits.test.js as an unprivileged user (uid/gid 65534 by default, or
// SCRIPTCAGE_TEST_UNPRIVILEGED_UID/GID), with the current runtime's test
// runner (`node --test` or `bun test`) and HOME/TMPDIR in a temp directory
// that user owns. The re-run uses a copy of the package and its tests
// under /tmp (and, under Bun, a copy of the bun binary there): the suites
// must pass from any checkout path, and a checkout under /tmp is the one
// that shows in the sandbox's private /tmp. The first test checks that
// the user can also read the checkout in place, and says which path is
// unreadable. Skips, saying why, when not root or when setpriv is missing.
//
// Runs under `node --test` and `bun test`.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { root, IS_BUN, IS_ROOT, tempDir, removeTree } = require('./helpers/common.js');

const UID = Number(process.env.SCRIPTCAGE_TEST_UNPRIVILEGED_UID || 65534);
const GID = Number(process.env.SCRIPTCAGE_TEST_UNPRIVILEGED_GID || 65534);
const FILES = ['sandbox-hostile.test.js', 'shell.test.js', 'limits.test.js'];

function findTool(name) {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

const setpriv = findTool('setpriv');
const skipReason = !IS_ROOT
  ? `not running as root (uid ${process.getuid()}): already unprivileged, nothing to re-run`
  : !setpriv
    ? 'setpriv (util-linux) is missing: cannot switch to an unprivileged user'
    : null;

const homes = [];
let copy = null;
after(() => {
  for (const h of homes) removeTree(h);
  if (copy) removeTree(copy.root);
});

/**
 * A copy of what the re-run needs (package files, the addon, the tests and,
 * under Bun, the runtime) in a fresh directory under /tmp, readable by all.
 */
function checkoutUnderTmp() {
  if (copy) return copy;
  const dir = fs.realpathSync(fs.mkdtempSync('/tmp/scriptcage-test-checkout-'));
  fs.chmodSync(dir, 0o755);
  for (const name of ['package.json', 'index.js', 'js', '__test__', `scriptcage.linux-${process.arch}-gnu.node`, `scriptcage-helper.linux-${process.arch}-gnu`]) {
    fs.cpSync(path.join(root, name), path.join(dir, name), { recursive: true });
  }
  let exec = process.execPath;
  if (IS_BUN) {
    const bin = path.join(dir, 'node_modules', 'bun', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    exec = path.join(bin, path.basename(process.execPath));
    fs.copyFileSync(process.execPath, exec);
    fs.chmodSync(exec, 0o755);
  }
  const chmodTree = (p) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.isDirectory() || st.mode & 0o100 ? 0o755 : 0o644);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) chmodTree(path.join(p, e));
  };
  chmodTree(dir);
  copy = { root: dir, tests: path.join(dir, '__test__'), exec };
  return copy;
}

/** Command prefix that runs as the unprivileged user with a clean env. */
function asUser(home) {
  return [
    setpriv,
    `--reuid=${UID}`,
    `--regid=${GID}`,
    '--clear-groups',
    '--',
    '/usr/bin/env',
    '-i',
    `PATH=${process.env.PATH || '/usr/local/bin:/usr/bin:/bin'}`,
    `HOME=${home}`,
    `TMPDIR=${home}`,
    `LANG=${process.env.LANG || 'C.UTF-8'}`,
    `USER=nobody`,
  ];
}

/** A temp directory owned by the unprivileged user. */
function userHome() {
  const home = tempDir('unpriv-home', 0o700);
  fs.chownSync(home, UID, GID);
  homes.push(home);
  return home;
}

/** Paths the unprivileged user must be able to read (or traverse). */
function unreadable(home) {
  const paths = [
    root,
    path.join(root, 'package.json'),
    path.join(root, 'index.js'),
    path.join(root, 'js', 'index.js'),
    path.join(root, 'js', 'shell.js'),
    path.join(root, `scriptcage.linux-${process.arch}-gnu.node`),
    path.join(root, `scriptcage-helper.linux-${process.arch}-gnu`),
    __dirname,
    path.join(__dirname, 'helpers', 'common.js'),
    path.join(__dirname, 'helpers', 'proc-env-host.js'),
    path.join(__dirname, 'helpers', 'degraded-host.js'),
    path.join(__dirname, 'helpers', 'limits-host.js'),
    ...FILES.map((f) => path.join(__dirname, f)),
    process.execPath,
  ];
  const bad = [];
  for (const p of paths) {
    const flag = fs.statSync(p).isDirectory() ? '-x' : '-r';
    const r = spawnSync(asUser(home)[0], [...asUser(home).slice(1), '/usr/bin/test', flag, p]);
    if (r.status !== 0) bad.push(p);
  }
  return bad;
}

function runAsUser(file, home) {
  const c = checkoutUnderTmp();
  const target = path.join(c.tests, file);
  const args = IS_BUN
    ? [c.exec, 'test', '--timeout', '600000', target]
    : [c.exec, '--test', '--test-concurrency=1', '--test-reporter=tap', target];
  const cmd = [...asUser(home), ...args];
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { cwd: c.root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 900000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

/** The failing test names in a runner's output. */
function failures(out) {
  const lines = out.split('\n');
  return IS_BUN
    ? lines.filter((l) => l.startsWith('(fail)'))
    : lines.filter((l) => /^\s*not ok \d+/.test(l));
}

describe(`unprivileged re-run (uid ${UID}, ${IS_BUN ? 'bun test' : 'node --test'})`, () => {
  test('the unprivileged user can read the package and the tests in place', { skip: skipReason || false }, () => {
    const home = userHome();
    const bad = unreadable(home);
    assert.deepEqual(bad, [], `uid ${UID} cannot read ${bad.join(', ')}: make them o+r (directories o+x); nothing was copied`);
  });

  for (const file of FILES) {
    test(`${file} passes as uid ${UID}, from a copy of the checkout under /tmp`, { skip: skipReason || false, timeout: 960000 }, async () => {
      const home = userHome();
      const bad = unreadable(home);
      assert.deepEqual(bad, [], `uid ${UID} cannot read ${bad.join(', ')}: not re-running ${file}`);
      const r = await runAsUser(file, home);
      const failed = failures(r.out);
      const summary = r.out.split('\n').filter((l) => /^# (tests|pass|fail|skipped)|^\s*\d+ (pass|fail|skip)$/.test(l)).join('; ');
      assert.equal(
        r.code,
        0,
        `${file} as uid ${UID} exited ${r.code}${r.signal ? ` (${r.signal})` : ''} [${summary}]; failing:\n${failed.join('\n')}\n--- output tail ---\n${r.out.slice(-6000)}`,
      );
      assert.ok(!fs.existsSync(home) || fs.readdirSync(home).every((n) => !n.startsWith('scriptcage-sh-')), 'per-run directories left in the user\'s TMPDIR');
    });
  }
});
