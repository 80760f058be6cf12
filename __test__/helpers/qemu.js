'use strict';

// Running the linux-arm64 build on this x86-64 machine: qemu-user and an
// arm64 Node unpacked by scripts/cross-toolchain.sh node-root (Debian's Node
// 18; N-API is ABI-stable). What is missing becomes a skip reason, except
// under CI=true, where .ci/run has prepared all of it and a missing piece is
// a failure (see `requireUnderCi`).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { findNode } = require('./runtimes.js');

const root = path.join(__dirname, '..', '..');
const ARM64_BINARY = 'scriptcage.linux-arm64-gnu.node';
const ARM64_ROOT = process.env.SCRIPTCAGE_ARM64_ROOT
  ? path.resolve(root, process.env.SCRIPTCAGE_ARM64_ROOT)
  : path.join(root, 'target', 'cross', 'arm64-root');
const ARM64_NODE = path.join(ARM64_ROOT, 'usr', 'bin', 'node');
const IS_CI = process.env.CI === 'true' || process.env.CI === '1';

function onPath(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

const QEMU = process.arch === 'arm64' ? null : onPath('qemu-aarch64-static') || onPath('qemu-aarch64');

/** Why the arm64 binary cannot be run here, or false when it can. */
function arm64SkipReason() {
  if (process.platform !== 'linux') return 'not a Linux host';
  const missing = [];
  if (!fs.existsSync(path.join(root, ARM64_BINARY))) missing.push(`${ARM64_BINARY} (npm run build:cross)`);
  if (process.arch !== 'arm64') {
    if (!QEMU) missing.push('qemu-aarch64-static (scripts/cross-toolchain.sh install)');
    if (!fs.existsSync(ARM64_NODE)) missing.push(`an arm64 node in ${path.relative(root, ARM64_ROOT)} (scripts/cross-toolchain.sh node-root)`);
  }
  return missing.length > 0 ? `missing ${missing.join(', ')}` : false;
}

/**
 * The skip option for a test that needs the arm64 build: a reason on a
 * developer's machine without the toolchain, never under CI (the test runs
 * and fails on the missing piece instead).
 */
function arm64Skip() {
  const reason = arm64SkipReason();
  return reason && !IS_CI ? `linux-arm64 not testable here: ${reason}` : false;
}

/** Fails (under CI) with what is missing for the arm64 run. */
function requireArm64() {
  const reason = arm64SkipReason();
  if (reason) throw new Error(`CI=true but the linux-arm64 run cannot happen: ${reason}`);
}

/** Runs `args` with the arm64 Node (under qemu-user on a non-arm64 host). */
function runArm64Node(args, { cwd = root, env = process.env, input, timeout = 180000 } = {}) {
  // On an arm64 host the host's own Node runs it.
  const cmd = QEMU || findNode();
  const argv = QEMU ? ['-L', ARM64_ROOT, ARM64_NODE, ...args] : args;
  const r = spawnSync(cmd, argv, { cwd, env, input, encoding: 'utf8', timeout, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw r.error;
  return r;
}

module.exports = { ARM64_BINARY, ARM64_ROOT, ARM64_NODE, QEMU, IS_CI, arm64Skip, arm64SkipReason, requireArm64, runArm64Node };
