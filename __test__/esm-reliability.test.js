'use strict';

// What scriptcage adds to the seed's ESM runner on every run, sandbox on or
// off: the whole process tree ends with the run, output is bounded (and the
// host's memory with it), concurrent runs are isolated, per-run directories
// never outlive a run, cancellation, input validation, the environment
// rules, `resolutionRoot`, and a writable working directory under the
// sandbox.
//
// Timing: nothing here depends on how fast a run is, except upper bounds
// for hangs (timeoutMs / test timeouts) and the timeout-path process tests,
// which need the script's processes to be started within their 8 s
// timeout.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomUUID } = require('node:crypto');

const { scriptcage, withProfile, seedFields, quiesce } = require('./helpers/env.js');
const { findMarked, procUsable, eventually } = require('./helpers/procs.js');

const sc = scriptcage();
const PROFILES = ['off', 'standard'];
const MiB = 1024 * 1024;
const HANG = 120000; // upper bound for a hung test

after(() => {
  sc.configureSandbox({ profile: 'standard' });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------- utilities

/** Runs `fn` with the warm pool set to `n` processes (when the package has one). */
async function withPoolSize(n, fn) {
  if (typeof sc.configureRunner !== 'function') return fn();
  const prev = sc.runnerStats().warmProcesses;
  sc.configureRunner({ warmProcesses: n });
  try {
    return await fn();
  } finally {
    sc.configureRunner({ warmProcesses: prev });
  }
}

/**
 * Points TMPDIR (so `os.tmpdir()` and the runner's parent directory) at a
 * fresh private directory for the duration of `fn`, so that runs of other
 * programs on this host cannot show up in its listing.
 */
async function withPrivateTmp(fn) {
  const real = os.tmpdir();
  const dir = fs.mkdtempSync(path.join(real, 'sc-esm-reliability-'));
  // Traversable by everyone, like /tmp: under the sandbox the script runs
  // as an unprivileged uid (see the 0700 test further down).
  fs.chmodSync(dir, 0o755);
  const had = Object.prototype.hasOwnProperty.call(process.env, 'TMPDIR');
  const prev = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    assert.equal(os.tmpdir(), dir, 'os.tmpdir() follows TMPDIR');
    return await fn(dir);
  } finally {
    if (had) process.env.TMPDIR = prev;
    else delete process.env.TMPDIR;
    await quiesce();
    // Pooled processes still starting may hold a directory a little longer.
    for (let i = 0; i < 100 && listRunDirs(dir).length > 0; i++) await sleep(100);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `scriptcage-*` (and `.scriptcage-*`) entries of `dir`. */
function listRunDirs(dir = os.tmpdir()) {
  return fs.readdirSync(dir).filter((n) => /^\.?scriptcage-/.test(n)).sort();
}

function newMarker() {
  const id = randomUUID().replace(/-/g, '');
  // comm holds at most 15 bytes.
  return { marker: `scm-${id}`, comm: `sc${id.slice(0, 13)}` };
}

/**
 * Starts a run and scans /proc for the marked processes while it is
 * pending. `abortWhen(seen)` may return true to abort the run.
 */
async function watchRun(options, mark, { abortWhen } = {}) {
  const ac = new AbortController();
  const seen = new Map();
  let done = false;
  const pending = sc.runEsmScript({ ...options, signal: abortWhen ? ac.signal : undefined });
  pending.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  while (!done) {
    for (const p of findMarked(mark)) seen.set(p.pid, p);
    if (abortWhen && !ac.signal.aborted && abortWhen([...seen.values()])) ac.abort();
    await sleep(20);
  }
  const result = await pending;
  return { result, seen: [...seen.values()] };
}

/** A short, printable view of a result for assertion messages. */
function brief(r) {
  if (r instanceof Error) return `${r.name}: ${r.message}`.slice(0, 300);
  const out = {};
  for (const [k, v] of Object.entries(seedFields(r || {}))) {
    const j = JSON.stringify(v);
    out[k] = j !== undefined && j.length > 200 ? `${j.slice(0, 200)}… (${j.length} chars)` : v;
  }
  if (r && 'outputTruncated' in r) out.outputTruncated = r.outputTruncated;
  return JSON.stringify(out);
}

const describeProcs = (ps) => ps.map((p) => `${p.pid} [${p.state}] ${p.comm}: ${p.cmdline}`).join('\n');

function assertNoneLeft(mark, what) {
  // Killed when the promise settles; gone once the kernel's teardown is
  // through (off the caller's latency, docs/spawn.md).
  eventually(() => findMarked(mark).length === 0);
  const left = findMarked(mark);
  assert.deepEqual(left, [], `${what}: processes left behind after the promise settled:\n${describeProcs(left)}`);
}

// Script fragments. `marker` goes into the grandchildren's argv/environment,
// `comm` becomes the script process's own name.
const prelude = ({ marker, comm }) => `import fs from "node:fs";
import { spawn } from "node:child_process";
fs.writeFileSync("/proc/self/comm", ${JSON.stringify(comm)});
const MARKER = ${JSON.stringify(marker)};
const markedEnv = { ...process.env, SCM_MARKER: MARKER };
`;

// ------------------------------------------------------ process lifetime

const procSkip = procUsable() ? null : '/proc is not readable here: cannot look for left-over processes';

// The default runner settings, and (when the package has a warm pool of
// pre-started processes) the pool switched off, so both launch paths are
// covered.
const POOL_MODES = [{ label: '', run: (fn) => fn() }];
if (typeof sc.configureRunner === 'function') POOL_MODES.push({ label: ', pool off', run: (fn) => withPoolSize(0, fn) });

for (const profile of PROFILES) {
  test(`[${profile}] a script that ignores SIGTERM (and its child that does too) is gone after the timeout`, { timeout: HANG }, async (t) => {
    if (procSkip) return t.skip(procSkip);
    const mark = newMarker();
    const script = `${prelude(mark)}
process.on("SIGTERM", () => {});
spawn("sh", ["-c", "trap '' TERM; while :; do sleep 1; done", MARKER], { stdio: "ignore", env: markedEnv });
while (true) {}
`;
    await withProfile(profile, async () => {
      const { result, seen } = await watchRun({ script, context: {}, timeoutMs: 8000 }, mark);
      assert.deepEqual(seedFields(result), { stdout: '', stderr: '', timedOut: true, error: 'Script execution timed out' });
      assert.ok(seen.some((p) => p.comm === mark.comm), `the script process was seen while running:\n${describeProcs(seen)}`);
      assert.ok(seen.some((p) => p.cmdline.includes(mark.marker)), `its child was seen while running:\n${describeProcs(seen)}`);
      assertNoneLeft(mark, 'SIGTERM-ignoring script');
    });
  });

  test(`[${profile}] detached / setsid / double-forked grandchildren are gone after the timeout`, { timeout: HANG }, async (t) => {
    if (procSkip) return t.skip(procSkip);
    const mark = newMarker();
    const script = `${prelude(mark)}
spawn("sleep", ["1000"], { detached: true, stdio: "ignore", env: markedEnv }).unref();
spawn("setsid", ["sh", "-c", "(trap '' TERM HUP; sleep 1000) & sleep 1000", MARKER], { detached: true, stdio: "ignore", env: markedEnv }).unref();
setInterval(() => {}, 1000);
`;
    await withProfile(profile, async () => {
      const { result, seen } = await watchRun({ script, context: {}, timeoutMs: 8000 }, mark);
      assert.equal(result.timedOut, true, brief(result));
      assert.ok(seen.some((p) => p.comm === mark.comm), `the script process was seen:\n${describeProcs(seen)}`);
      assert.ok(seen.some((p) => p.cmdline.includes(mark.marker)), `the setsid grandchild was seen:\n${describeProcs(seen)}`);
      assertNoneLeft(mark, 'detached grandchildren');
    });
  });

  for (const pool of POOL_MODES) test(`[${profile}${pool.label}] a detached grandchild of a script that exits at once is gone when the promise settles`, { timeout: HANG }, async (t) => {
    if (procSkip) return t.skip(procSkip);
    const mark = newMarker();
    const script = `${prelude(mark)}
const gc = spawn("sleep", ["1000"], { detached: true, stdio: "ignore", env: markedEnv });
gc.unref();
const gc2 = spawn("setsid", ["sh", "-c", "sleep 1000; true", MARKER], { detached: true, stdio: "ignore", env: markedEnv });
gc2.unref();
// Report only once the grandchild is really running.
let running = false;
for (let i = 0; i < 2000 && !running; i++) {
  try { running = fs.readFileSync("/proc/" + gc.pid + "/environ", "utf8").includes(MARKER); } catch {}
  if (!running) await new Promise((r) => setTimeout(r, 5));
}
export default running ? "grandchild running" : "grandchild not seen";
`;
    await withProfile(profile, () =>
      pool.run(async () => {
        const result = await sc.runEsmScript({ script, context: {}, timeoutMs: 60000 });
        assert.equal(result.result, 'grandchild running', brief(result));
        assertNoneLeft(mark, 'grandchild of an exited script');
      }),
    );
  });

  for (const pool of POOL_MODES) test(`[${profile}${pool.label}] aborting a run ends its whole tree`, { timeout: HANG }, async (t) => {
    if (procSkip) return t.skip(procSkip);
    const mark = newMarker();
    const script = `${prelude(mark)}
process.on("SIGTERM", () => {});
spawn("setsid", ["sh", "-c", "trap '' TERM HUP; sleep 1000; true", MARKER], { detached: true, stdio: "ignore", env: markedEnv }).unref();
setInterval(() => {}, 1000);
`;
    await withProfile(profile, () =>
      pool.run(async () => {
        const { result, seen } = await watchRun({ script, context: {}, timeoutMs: 60000 }, mark, {
          // Abort once the script and its grandchild are both running.
          abortWhen: (ps) => ps.some((p) => p.comm === mark.comm) && ps.some((p) => p.cmdline.includes(mark.marker)),
        });
        assert.deepEqual(seedFields(result), { stdout: '', stderr: '', timedOut: false, error: 'Script execution aborted' });
        assert.ok(seen.some((p) => p.cmdline.includes(mark.marker)), describeProcs(seen));
        assertNoneLeft(mark, 'aborted run');
      }),
    );
  });
}

// ------------------------------------------------------------ output flood

// Writes 1 GiB of '€' (3 bytes each, so the 5 MiB budget falls inside a
// character) with synchronous writes. A write refused with EAGAIN (the
// descriptor may be non-blocking) is retried: this test is about the
// budget; whether such writes block is pinned by the differential corpus.
const floodScript = (fd) => `import fs from "node:fs";
const chunk = Buffer.from("€".repeat(21845));
let total = 0;
while (total < 2 ** 30) {
  try {
    total += fs.writeSync(${fd}, chunk, total % chunk.length);
  } catch (e) {
    if (e.code !== "EAGAIN") throw e;
  }
}
export default total;
`;

function gc() {
  if (typeof Bun !== 'undefined' && typeof Bun.gc === 'function') Bun.gc(true);
  else if (typeof global.gc === 'function') global.gc();
}

for (const profile of PROFILES) {
  for (const [stream, fd] of [['stdout', 1], ['stderr', 2]]) {
    test(`[${profile}] a 1 GiB ${stream} flood is cut at the budget, on a character boundary, without host memory growth`, { timeout: HANG }, async () => {
      await withProfile(profile, async () => {
        const budget = sc.getSandboxPolicy().resources.maxOutputBytes ?? 5 * MiB;
        assert.ok(budget <= 5 * MiB, `budget ${budget}`);
        gc();
        const rssBefore = process.memoryUsage().rss;
        const result = await sc.runEsmScript({ script: floodScript(fd), context: {}, timeoutMs: HANG - 10000 });
        const captured = result[stream];
        const bytes = Buffer.byteLength(result.stdout) + Buffer.byteLength(result.stderr);
        gc();
        const growth = process.memoryUsage().rss - rssBefore;
        assert.equal(result.outputTruncated, true, `outputTruncated: ${brief(result)}`);
        assert.equal(result.timedOut, false);
        assert.equal(result.result, undefined, 'no result from a stopped script');
        assert.ok(bytes <= 5 * MiB, `captured ${bytes} bytes`);
        assert.ok(Buffer.byteLength(captured) >= 5 * MiB - 4 * 64 * 1024, `the captured ${stream} is close to the budget (${Buffer.byteLength(captured)})`);
        assert.match(captured, /^€+$/u, 'only whole € characters (no U+FFFD, nothing split)');
        assert.equal(Buffer.byteLength(captured) % 3, 0);
        assert.ok(growth < 50 * MiB, `host RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
      });
    });
  }

  test(`[${profile}] the host runs the next script normally after a flood`, { timeout: HANG }, async () => {
    await withProfile(profile, async () => {
      const r = await sc.runEsmScript({ script: 'console.log("fine");\nexport default 1;', context: {}, timeoutMs: 60000 });
      assert.deepEqual(seedFields(r), { result: 1, stdout: 'fine', stderr: '', timedOut: false });
      assert.equal('outputTruncated' in r, false, 'outputTruncated is only present when true');
    });
  });
}

// ------------------------------------------------------------ concurrency

for (const profile of PROFILES) {
  test(`[${profile}] 32 concurrent runs each see only their own context`, { timeout: HANG }, async () => {
    await withProfile(profile, async () => {
      const runs = Array.from({ length: 32 }, (_, i) => {
        const context = { i, nonce: randomUUID(), nested: { list: [i, String(i)] } };
        const p = sc.runEsmScript({
          script: 'console.log(context.nonce);\nconsole.error("err-" + context.i);\nexport default async (ctx) => {\n  await new Promise((r) => setTimeout(r, 10));\n  return { ctx, same: JSON.stringify(ctx) === JSON.stringify(globalThis.context) };\n};',
          context,
          timeoutMs: 60000,
        });
        return p.then((r) => ({ context, r }));
      });
      const results = await Promise.all(runs);
      for (const { context, r } of results) {
        assert.deepEqual(seedFields(r), {
          result: { ctx: context, same: true },
          stdout: context.nonce,
          stderr: `err-${context.i}`,
          timedOut: false,
        });
      }
    });
  });
}

// -------------------------------------------------------- per-run folders

// Outcomes that must all leave nothing behind. Each returns a check.
const OUTCOMES = [
  ['success', { script: 'export default new URL(".", import.meta.url).pathname;' }, (r, tmp) => {
    assert.equal(typeof r.result, 'string', brief(r));
    assert.ok(r.result.startsWith(fs.realpathSync(tmp) + path.sep), `the run directory ${r.result} is inside ${tmp}`);
    assert.match(path.basename(r.result.replace(/\/$/, '')), /^scriptcage-/);
    assert.equal(fs.existsSync(r.result), false, `${r.result} still exists`);
  }],
  ['error', { script: 'throw new Error("failing on purpose")' }, (r) => {
    assert.equal(r.error, 'failing on purpose');
  }],
  ['syntax error', { script: 'export default {' }, (r) => {
    assert.equal(typeof r.error, 'string');
  }],
  ['process.exit before a result', { script: 'process.exit(4)' }, (r) => {
    assert.equal(r.error, 'Script exited without producing a result');
  }],
  ['timeout', { script: 'while (true) {}', timeoutMs: 500 }, (r) => {
    assert.equal(r.timedOut, true);
  }],
  ['abort', { script: 'setInterval(() => {}, 1000);', abortAfterMs: 300 }, (r) => {
    assert.equal(r.error, 'Script execution aborted');
  }],
  ['already-aborted signal', { script: 'export default 1', abortAfterMs: -1 }, (r) => {
    assert.equal(r.error, 'Script execution aborted');
  }],
  ['output limit', { script: floodScript(1) }, (r) => {
    assert.equal(r.outputTruncated, true);
  }],
  ['spawn failure (environment too large for execve)', { script: 'export default 1', env: { SCM_HUGE: 'x'.repeat(256 * 1024) }, coldOnly: true }, (r) => {
    assert.ok(r instanceof Error, `rejected: ${r && r.message}`);
  }],
  ['invalid options', { script: 'export default 1', timeoutMs: -5 }, (r) => {
    assert.ok(r instanceof TypeError);
  }],
];
// Once more at the end: with a warm pool, this run gets a pre-started process.
OUTCOMES.push(['success (later run)', ...OUTCOMES[0].slice(1)]);

async function runOutcome(opts) {
  const { abortAfterMs, coldOnly, ...rest } = opts;
  const options = { context: {}, timeoutMs: 60000, ...rest };
  if (abortAfterMs !== undefined) {
    const ac = new AbortController();
    if (abortAfterMs < 0) ac.abort();
    else setTimeout(() => ac.abort(), abortAfterMs);
    options.signal = ac.signal;
  }
  try {
    return await sc.runEsmScript(options);
  } catch (err) {
    return err;
  }
}

for (const profile of PROFILES) {
  test(`[${profile}] per-run directories are removed after every outcome (pool off: checked the moment the promise settles)`, { timeout: HANG }, async () => {
    await withProfile(profile, () =>
      withPoolSize(0, () =>
        withPrivateTmp(async (tmp) => {
          assert.deepEqual(listRunDirs(), [], 'fresh TMPDIR');
          for (const [name, opts, check] of OUTCOMES) {
            const r = await runOutcome(opts);
            check(r, tmp);
            assert.deepEqual(listRunDirs(), [], `after ${name}: ${os.tmpdir()} holds run directories`);
          }
        }),
      ),
    );
  });

  test(`[${profile}] per-run directories are removed after every outcome (default runner settings)`, { timeout: HANG }, async () => {
    await withProfile(profile, () =>
      withPrivateTmp(async (tmp) => {
        for (const [name, opts, check] of OUTCOMES) {
          if (opts.coldOnly) continue;
          const r = await runOutcome(opts);
          check(r, tmp);
          void name;
        }
        // Idle pre-started processes (if any) own a directory each; closing
        // them must leave nothing.
        await quiesce();
        let left = listRunDirs();
        for (let i = 0; i < 100 && left.length > 0; i++) {
          await sleep(100);
          left = listRunDirs();
        }
        assert.deepEqual(left, [], `${tmp} still holds run directories after the runs and closing the pool`);
      }),
    );
  });
}

// ------------------------------------------------------------ AbortSignal

for (const profile of PROFILES) {
  test(`[${profile}] AbortSignal: mid-run, already aborted, and after completion`, { timeout: HANG }, async () => {
    await withProfile(profile, async () => {
      const aborted = { stdout: '', stderr: '', timedOut: false, error: 'Script execution aborted' };

      const ac = new AbortController();
      const pending = sc.runEsmScript({ script: 'console.log("started");\nwhile (true) {}', context: {}, timeoutMs: 60000, signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      assert.deepEqual(seedFields(await pending), aborted, 'aborted mid-run');

      const r2 = await sc.runEsmScript({ script: 'export default 1', context: {}, timeoutMs: 60000, signal: AbortSignal.abort() });
      assert.deepEqual(seedFields(r2), aborted, 'already aborted');

      const r3 = await sc.runEsmScript({ script: 'export default 1', context: {}, timeoutMs: 60000, signal: AbortSignal.abort(new Error('custom reason')) });
      assert.deepEqual(seedFields(r3), aborted, 'already aborted with a reason');

      const ac4 = new AbortController();
      const r4 = await sc.runEsmScript({ script: 'export default 4', context: {}, timeoutMs: 60000, signal: ac4.signal });
      ac4.abort();
      assert.deepEqual(seedFields(r4), { result: 4, stdout: '', stderr: '', timedOut: false }, 'abort after completion changes nothing');

      const ac5 = new AbortController();
      const r5 = await sc.runEsmScript({ script: 'export default 5', context: {}, timeoutMs: 60000, signal: ac5.signal });
      assert.equal(r5.result, 5, 'an unused signal does not disturb the run');
    });
  });
}

// -------------------------------------------------------- invalid options

const OK = { script: 'export default 1', context: {}, timeoutMs: 10000 };
const HELPER = { helperModuleName: '@checkstack/healthcheck' };
const INVALID = [
  ['script is a number', { ...OK, script: 123 }, 'script'],
  ['script is missing', { context: {}, timeoutMs: 10000 }, 'script'],
  ['script is null', { ...OK, script: null }, 'script'],
  ['script is an object', { ...OK, script: { toString: () => 'export default 1' } }, 'script'],
  ['timeoutMs 0', { ...OK, timeoutMs: 0 }, 'timeoutMs'],
  ['timeoutMs -1', { ...OK, timeoutMs: -1 }, 'timeoutMs'],
  ['timeoutMs NaN', { ...OK, timeoutMs: NaN }, 'timeoutMs'],
  ['timeoutMs Infinity', { ...OK, timeoutMs: Infinity }, 'timeoutMs'],
  ["timeoutMs '100'", { ...OK, timeoutMs: '100' }, 'timeoutMs'],
  ['timeoutMs missing', { script: 'export default 1', context: {} }, 'timeoutMs'],
  ['env is a string', { ...OK, env: 'A=1' }, 'env'],
  ['env is a number', { ...OK, env: 42 }, 'env'],
  ['env value is a number', { ...OK, env: { A: 1 } }, 'env'],
  ['env value is an object', { ...OK, env: { A: { toString: () => 'x' } } }, 'env'],
  ["helperFunctionName 'a-b'", { ...OK, ...HELPER, helperFunctionName: 'a-b' }, 'helperFunctionName'],
  ['helperFunctionName code injection', { ...OK, ...HELPER, helperFunctionName: 'x(){};evil()//' }, 'helperFunctionName'],
  ["helperFunctionName 'class'", { ...OK, ...HELPER, helperFunctionName: 'class' }, 'helperFunctionName'],
  ['helperFunctionName with a space', { ...OK, ...HELPER, helperFunctionName: 'a b' }, 'helperFunctionName'],
  ['resolutionRoot does not exist', { ...OK, resolutionRoot: path.join(os.tmpdir(), `sc-missing-${randomUUID()}`) }, 'resolutionRoot'],
  ['options is null', null, 'options'],
  ['options is missing', undefined, 'options'],
];

test('invalid options reject (never throw synchronously) with a TypeError naming the field', { timeout: HANG }, async () => {
  for (const [name, options, field] of INVALID) {
    for (const [label, run] of [['runEsmScript', sc.runEsmScript], ['defaultEsmScriptRunner.run', (o) => sc.defaultEsmScriptRunner.run(o)]]) {
      let p;
      assert.doesNotThrow(() => {
        p = run(options);
      }, `${label}(${name}) threw synchronously`);
      assert.ok(p instanceof Promise, `${label}(${name}) returns a promise`);
      await assert.rejects(p, (err) => {
        assert.ok(err instanceof TypeError, `${label}(${name}): ${err && err.constructor && err.constructor.name}: ${err && err.message}`);
        assert.ok(String(err.message).includes(field), `${label}(${name}): message "${err.message}" names ${field}`);
        return true;
      });
    }
  }
});

test('an unserialisable context rejects with a TypeError (BigInt, cycle)', { timeout: HANG }, async () => {
  const cyc = {};
  cyc.self = cyc;
  for (const context of [{ n: 1n }, cyc, [2n]]) {
    const p = sc.runEsmScript({ ...OK, context });
    assert.ok(p instanceof Promise);
    await assert.rejects(p, TypeError);
  }
});

test('a valid helper name without a module name is not a helper', { timeout: HANG }, async () => {
  const r = await sc.runEsmScript({ ...OK, script: 'export default typeof defineHealthCheck;', helperFunctionName: 'defineHealthCheck' });
  assert.equal(r.result, 'undefined');
});

test('the host still runs scripts after every kind of invalid input', { timeout: HANG }, async () => {
  const r = await sc.runEsmScript({ script: 'export default "alive"', context: {}, timeoutMs: 30000 });
  assert.equal(r.result, 'alive');
});

// ----------------------------------------------------------- environment

for (const profile of PROFILES) {
  test(`[${profile}] env injection: injected visible, host secrets not, forbidden keys dropped and reported`, { timeout: HANG }, async () => {
    const secret = `secret-${randomUUID()}`;
    const hadSecret = Object.prototype.hasOwnProperty.call(process.env, 'SCRIPTCAGE_TEST_SECRET');
    const prevSecret = process.env.SCRIPTCAGE_TEST_SECRET;
    process.env.SCRIPTCAGE_TEST_SECRET = secret;
    const forbidden = {
      LD_PRELOAD: '/nonexistent/scm-preload.so',
      LD_LIBRARY_PATH: '/nonexistent/scm-lib',
      NODE_OPTIONS: '--require /nonexistent/scm-evil.js',
      PATH: '/nonexistent/scm-evil-bin',
      BUN_CONFIG_X: 'scm-1',
      BUN_CONFIG_NO_CLEAR_TERMINAL_ON_RELOAD: 'scm-2',
      BUN_INSTALL: '/nonexistent/scm-bun',
    };
    try {
      await withProfile(profile, async () => {
        const script = `export default {
  injected: process.env.SCM_INJECTED,
  home: process.env.HOME,
  secret: process.env.SCRIPTCAGE_TEST_SECRET ?? null,
  forbidden: ${JSON.stringify(Object.keys(forbidden))}.map((k) => [k, process.env[k] ?? null]),
  path: process.env.PATH ?? null,
  anySecret: Object.values(process.env).some((v) => String(v).includes(${JSON.stringify(secret)})),
};`;
        const r = await sc.runEsmScript({
          script,
          context: {},
          timeoutMs: 60000,
          env: { SCM_INJECTED: 'yes, injected', HOME: '/scm-injected-home', ...forbidden },
        });
        assert.ok(r.result, brief(r));
        assert.equal(r.result.injected, 'yes, injected');
        assert.equal(r.result.home, '/scm-injected-home', 'an injected key wins over the curated host value');
        assert.equal(r.result.secret, null, 'the host secret is not visible');
        assert.equal(r.result.anySecret, false, 'no variable carries the host secret');
        for (const [k, v] of r.result.forbidden) {
          if (k === 'PATH') continue;
          assert.equal(v, null, `${k} was dropped`);
        }
        assert.equal(r.result.path, process.env.PATH ?? null, 'PATH is the host PATH, not the injected one');
        assert.doesNotMatch(r.stderr, /scm-preload|ld\.so|scm-evil/, 'nothing tried to load the injected paths');
        const notes = JSON.stringify(r.sandbox && r.sandbox.notes);
        for (const k of Object.keys(forbidden)) {
          assert.ok(notes.includes(k), `sandbox.notes lists ${k}: ${notes}`);
        }
        assert.ok(!notes.includes('SCM_INJECTED'), 'an allowed key is not reported as dropped');
      });
    } finally {
      if (hadSecret) process.env.SCRIPTCAGE_TEST_SECRET = prevSecret;
      else delete process.env.SCRIPTCAGE_TEST_SECRET;
    }
  });
}

// -------------------------------------------------------- resolutionRoot

/** A directory holding node_modules/fake-pkg (ESM, `export default 42`). */
function makeResolutionRoot(mode) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-esm-rr-'));
  fs.chmodSync(root, mode);
  const pkg = path.join(root, 'node_modules', 'fake-pkg');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'fake-pkg', version: '1.0.0', type: 'module', main: 'index.js', exports: './index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), 'export default 42;\n');
  return root;
}

async function removeResolutionRoot(root) {
  await quiesce();
  for (let i = 0; i < 100 && listRunDirs(root).length > 0; i++) await sleep(100);
  const left = listRunDirs(root);
  fs.rmSync(root, { recursive: true, force: true });
  assert.deepEqual(left, [], 'nothing left in the resolution root');
}

for (const profile of PROFILES) {
  test(`[${profile}] resolutionRoot makes <root>/node_modules importable, and only then`, { timeout: HANG }, async () => {
    const root = makeResolutionRoot(0o755);
    try {
      const script = 'import x from "fake-pkg";\nexport default [x, new URL(".", import.meta.url).pathname];';
      await withProfile(profile, async () => {
        const withRoot = await sc.runEsmScript({ script, context: {}, timeoutMs: 60000, resolutionRoot: root });
        assert.ok(Array.isArray(withRoot.result), brief(withRoot));
        assert.equal(withRoot.result[0], 42);
        const runDir = withRoot.result[1];
        assert.ok(runDir.startsWith(fs.realpathSync(root) + path.sep), `the run directory ${runDir} is inside the resolution root`);
        assert.equal(fs.existsSync(runDir), false, `${runDir} was removed`);

        const without = await sc.runEsmScript({ script, context: {}, timeoutMs: 60000 });
        assert.equal(without.result, undefined, brief(without));
        assert.match(without.error, /fake-pkg/, 'the error names the package');
        assert.equal(without.timedOut, false);
      });
    } finally {
      await removeResolutionRoot(root);
    }
  });
}

// The host (root here) can read a directory with mode 0700; the seed has no
// trouble with it. A resolutionRoot or TMPDIR like that (an application in
// /root/app, a private TMPDIR) must keep working with the sandbox on.
test('[standard] a resolutionRoot that only the host user can enter (mode 0700) still works', { timeout: HANG }, async () => {
  const root = makeResolutionRoot(0o700);
  try {
    await withProfile('standard', async () => {
      const r = await runOutcome({ script: 'import x from "fake-pkg";\nexport default x;', resolutionRoot: root });
      assert.ok(!(r instanceof Error), `rejected: ${r && r.message}`);
      assert.deepEqual(seedFields(r), { result: 42, stdout: '', stderr: '', timedOut: false });
    });
  } finally {
    await removeResolutionRoot(root);
  }
});

test('[standard] a TMPDIR that only the host user can enter (mode 0700) still works', { timeout: HANG }, async () => {
  await withProfile('standard', () =>
    withPrivateTmp(async (tmp) => {
      fs.chmodSync(tmp, 0o700);
      const r = await runOutcome({ script: 'export default "ran";' });
      assert.ok(!(r instanceof Error), `rejected: ${r && r.message}`);
      assert.deepEqual(seedFields(r), { result: 'ran', stdout: '', stderr: '', timedOut: false });
    }),
  );
});

// --------------------------------------------------- writable working dir

test('[standard] a script can write to process.cwd() (its scratch directory)', { timeout: HANG }, async () => {
  const name = `scm-cwd-${randomUUID()}.txt`;
  await withProfile('standard', async () => {
    const r = await sc.runEsmScript({
      script: `import fs from "node:fs";
import path from "node:path";
const f = path.join(process.cwd(), ${JSON.stringify(name)});
fs.writeFileSync(f, "written in cwd");
export default fs.readFileSync(f, "utf8");`,
      context: {},
      timeoutMs: 60000,
    });
    assert.deepEqual(seedFields(r), { result: 'written in cwd', stdout: '', stderr: '', timedOut: false });
  });
  assert.equal(fs.existsSync(path.join(process.cwd(), name)), false, 'the host working directory was not written');
});
