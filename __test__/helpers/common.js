'use strict';

// Shared helpers for the shell and hostile-sandbox suites. Not a test file:
// `node --test` and `bun test` only pick up `*.test.js`.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { eventually } = require('./procs.js');

const root = path.join(__dirname, '..', '..');
const scriptcage = require(path.join(root, 'js', 'index.js'));

const IS_BUN = typeof process.versions.bun === 'string';
const RUNTIME = IS_BUN ? 'bun' : 'node';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const MiB = 1024 * 1024;

/** A short random token, safe in shell words, file names and regexes. */
function token() {
  return crypto.randomBytes(8).toString('hex');
}

/**
 * A `sleep` argument that is unique to one test and still a valid number of
 * seconds for coreutils sleep: `1000.<digits>`. Processes started with it
 * are found on the host by their command line.
 */
function uniqueSleep() {
  return `1000.${crypto.randomInt(1e8, 1e9)}`;
}

/** Switches the global sandbox policy to `profile` (plus `extra` fields). */
function useProfile(profile, extra = {}) {
  return scriptcage.configureSandbox({ profile, ...extra });
}

/** Puts the default policy back; every suite calls this when it is done. */
function restoreDefaultPolicy() {
  scriptcage.configureSandbox({ profile: 'standard' });
}

/** Reads a /proc file, or null when it is gone or unreadable. */
function readProc(p) {
  try {
    return fs.readFileSync(p, 'latin1');
  } catch {
    return null;
  }
}

/**
 * Live (non-zombie) host processes whose command line contains `marker`,
 * as `{ pid, cmdline }`, excluding this process.
 */
function findProcesses(marker) {
  const found = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const cmdline = readProc(`/proc/${name}/cmdline`);
    if (!cmdline) continue;
    const text = cmdline.replace(/\0/g, ' ').trim();
    if (!text.includes(marker)) continue;
    const stat = readProc(`/proc/${name}/stat`);
    if (stat) {
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
    }
    found.push({ pid, cmdline: text });
  }
  return found;
}

/**
 * Asserts that no process with `marker` in its command line is alive now.
 * Whatever is found is killed (by pid: those are processes this test's
 * script started) so one failure does not leak into the next tests.
 */
function assertNoProcess(marker, what = 'the run') {
  eventually(() => findProcesses(marker).length === 0);
  const left = findProcesses(marker);
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  assert.deepEqual(
    left.map((p) => p.cmdline),
    [],
    `${what} left processes behind: ${JSON.stringify(left)}`,
  );
}

/** True when `pid` exists (signal 0 succeeds or is refused). */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code === 'EPERM') return true;
    return false;
  }
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Resident set size of this process in bytes. */
function rss() {
  return process.memoryUsage().rss;
}

/**
 * Runs `fn` while sampling this process's RSS every 20 ms; resolves with
 * `{ value, growth }` where growth is peak RSS minus RSS before the call.
 */
async function withRssProbe(fn) {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const before = rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 20);
  try {
    const value = await fn();
    peak = Math.max(peak, rss());
    return { value, growth: peak - before };
  } finally {
    clearInterval(timer);
  }
}

/** A fresh temp directory with `mode` (chmod, so the umask does not apply). */
function tempDir(prefix, mode = 0o700) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `scriptcage-test-${prefix}-`));
  fs.chmodSync(dir, mode);
  return fs.realpathSync(dir);
}

/** Removes a directory tree, ignoring errors. */
function removeTree(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort
  }
}

/** Resolves after `ms` milliseconds. */
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The supervising init processes of this process's runs: direct children
 * forked by the addon's spawner thread (their `comm` is the thread's name).
 */
function runInits() {
  const pids = [];
  for (const task of fs.readdirSync('/proc/self/task')) {
    const children = readProc(`/proc/self/task/${task}/children`) || '';
    for (const pid of children.trim().split(/\s+/).filter(Boolean)) {
      const comm = (readProc(`/proc/${pid}/comm`) || '').trim();
      if (comm.startsWith('scriptcage-spaw')) pids.push(Number(pid));
    }
  }
  return pids;
}

/**
 * Races `promise` against a loose upper bound, so a hang fails the test with
 * a message instead of stalling the runner. On a hang the runs this process
 * started are killed (by pid) so the test file can still finish.
 */
async function within(ms, promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const inits = runInits();
      for (const pid of inits) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      reject(new Error(`${what} did not settle within ${ms} ms (hang; killed run inits ${JSON.stringify(inits)})`));
    }, ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a shell script with a generous default timeout. */
function sh(script, options = {}) {
  return within(
    (options.timeoutMs || 20000) + 30000,
    scriptcage.runShellScript({ script, timeoutMs: 20000, ...options }),
    `shell run ${JSON.stringify(script.slice(0, 60))}`,
  );
}

/** Runs an ESM script in the current runtime with a generous default timeout. */
function esm(script, options = {}) {
  return within(
    (options.timeoutMs || 20000) + 30000,
    scriptcage.runEsmScript({ script, timeoutMs: 20000, ...options }),
    `ESM run ${JSON.stringify(script.slice(0, 60))}`,
  );
}

/** Asserts that the host can still run a trivial script of each kind. */
async function assertHostHealthy() {
  const s = await sh('echo healthy');
  assert.equal(s.exitCode, 0, `trivial shell run after the attack: ${JSON.stringify(s)}`);
  assert.equal(s.stdout, 'healthy');
  const e = await esm('return 40 + 2');
  assert.equal(e.error, undefined, `trivial ESM run after the attack: ${JSON.stringify(e)}`);
  assert.equal(e.result, 42);
}

module.exports = {
  root,
  scriptcage,
  IS_BUN,
  IS_ROOT,
  RUNTIME,
  MiB,
  token,
  uniqueSleep,
  useProfile,
  restoreDefaultPolicy,
  findProcesses,
  assertNoProcess,
  isAlive,
  rss,
  withRssProbe,
  tempDir,
  removeTree,
  delay,
  within,
  runInits,
  sh,
  esm,
  assertHostHealthy,
};
