'use strict';

// The warm pool (performance.md, "The warm pool"): pre-started, single-use,
// already sandboxed runtime processes. Runs under `node --test` and
// `bun test`; each section runs for the sandbox profiles `off` and
// `standard`, and every test puts `configureRunner({ warmProcesses: 2 })`
// and `configureSandbox({ profile: 'standard' })` back when it ends.
//
// How the tests observe the pool:
// - `runnerStats().idlePids` are the host pids of the pooled processes'
//   init processes; the runtime (node/bun on runner.mjs) is a child of that
//   init. A run that takes a pooled process makes its pid leave idlePids.
// - Readiness is awaited by polling `runnerStats().idle` with a deadline;
//   no assertion depends on timing except loose upper bounds.
// - "Dead" means: no /proc entry, a zombie (state Z/X), or a /proc entry of
//   another process (different start time: the pid was reused). Zombies
//   count as dead because a process orphaned by a host that died is
//   re-parented to pid 1 of the machine, which reaps when it pleases.
//
// Cold versus warm ("indistinguishable"): each case runs once with
// `warmProcesses: 0` (necessarily cold) and once in a pooled process (the
// pool is warmed first and the run must consume one idle pid), and the two
// results are compared field by field, `sandbox` included, key order
// included. The only normalisation: the run's staging directory name
// (`<tmpdir>/scriptcage-XXXXXX`, random per run) becomes `<RUN_DIR>` in
// every string of the result. Stack frames in runner.mjs are NOT
// normalised: the pooled runner is named runner.mjs like the cold one and
// keeps its statements on the cold runner's lines and columns, so frames
// must match exactly.
//
// Tests marked `todo` document known differences or lifecycle bugs that are
// not fixed yet: `node --test` runs them and reports a failure as todo;
// `bun test` lists them without running them (`bun test --todo` runs them).
// Neither fails the suite.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { eventually } = require('./helpers/procs.js');

const PKG = path.resolve(__dirname, '..', 'js', 'index.js');
const sc = require(PKG);

const IS_BUN = typeof process.versions.bun === 'string';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const WARM = 2;
const PROFILES = ['off', 'standard'];
const RUN_TIMEOUT_MS = 20000;
const TEST_TIMEOUT = { timeout: 180000 };
const HELPER = { helperModuleName: '@checkstack/healthcheck', helperFunctionName: 'defineHealthCheck' };

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` until it returns a truthy value or `ms` pass. */
async function waitFor(pred, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function stats() {
  return sc.runnerStats();
}

/** Waits until exactly `n` processes are idle (the pool never holds more). */
async function waitIdle(n = WARM) {
  return waitFor(() => {
    const s = stats();
    // Demand may allow `burst` processes above the size (docs/pool.md).
    assert.ok(s.idle <= s.warmProcesses + s.burst, `idle ${s.idle} exceeds the size ${s.warmProcesses} + burst ${s.burst}`);
    return s.idle >= n ? s : null;
  }, `runnerStats().idle >= ${n} (now ${JSON.stringify(stats())})`);
}

function run(script, extra = {}) {
  return sc.runEsmScript({ script, timeoutMs: RUN_TIMEOUT_MS, ...extra });
}

/** Makes sure the pool for the current policy holds WARM idle processes. */
async function warmUp() {
  if (stats().idle < WARM) {
    const r = await run('export default 1');
    assert.equal(r.result, 1, `priming run failed: ${JSON.stringify(r)}`);
  }
  return waitIdle(WARM);
}

function reset() {
  sc.configureRunner({ warmProcesses: WARM });
  sc.configureSandbox({ profile: 'standard' });
}

/** `/proc/<pid>/stat` parsed: state, ppid, start time; null when absent. */
function procStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: rest[0], ppid: Number(rest[1]), start: rest[19] };
}

/** A process identity that survives pid reuse. */
function ident(pid) {
  const st = procStat(pid);
  return st ? { pid, start: st.start } : null;
}

function isDead(id) {
  const st = procStat(id.pid);
  return st === null || st.state === 'Z' || st.state === 'X' || st.start !== id.start;
}

function allProcs() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st) out.push(st);
  }
  return out;
}

/** Pids of every live descendant of `pid` (from a scan of /proc/*\/stat). */
function descendants(pid) {
  const procs = allProcs().filter((p) => p.state !== 'Z');
  const found = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const p of procs) {
      if (p.ppid === parent && !found.includes(p.pid)) {
        found.push(p.pid);
        queue.push(p.pid);
      }
    }
  }
  return found;
}

/** Identities of `pid` and all its descendants. */
function tree(pid) {
  return [pid, ...descendants(pid)].map(ident).filter(Boolean);
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** The staging directory of a pooled process (from its runtime's argv). */
function stagingDir(initPid) {
  for (const pid of descendants(initPid)) {
    const arg = cmdline(pid).find((a) => a.endsWith('/runner.mjs'));
    if (arg) return path.dirname(arg);
  }
  return null;
}

/**
 * Live children of this process that are scriptcage init processes (they
 * carry the name of the spawner thread they were cloned from): idle,
 * starting or running pooled processes, and cold runs.
 */
function runnerChildren() {
  const comm = (pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8');
    } catch {
      return '';
    }
  };
  return allProcs()
    .filter((p) => p.ppid === process.pid && p.state !== 'Z' && /scriptcage/.test(comm(p.pid)))
    .map((p) => p.pid);
}

async function waitAllDead(ids, what, ms = 5000) {
  await waitFor(() => ids.every(isDead), `${what} to be dead: ${JSON.stringify(ids.filter((i) => !isDead(i)))}`, ms);
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

describe('warm pool configuration', () => {
  test('runnerStats() has the documented shape', () => {
    const s = stats();
    assert.deepEqual(Object.keys(s).sort(), ['burst', 'idle', 'idlePids', 'stagingDirs', 'warmProcesses']);
    assert.equal(typeof s.burst, 'number');
    assert.equal(typeof s.warmProcesses, 'number');
    assert.equal(typeof s.idle, 'number');
    assert.ok(Array.isArray(s.idlePids));
    assert.equal(s.idlePids.length, s.idle);
  });

  test('invalid warmProcesses values throw a TypeError naming warmProcesses', () => {
    try {
      sc.configureRunner({ warmProcesses: WARM });
      for (const bad of [-1, 1.5, 65, '2', NaN, Infinity, null, true]) {
        assert.throws(
          () => sc.configureRunner({ warmProcesses: bad }),
          (err) => err instanceof TypeError && /warmProcesses/.test(err.message),
          `warmProcesses: ${String(bad)} must be refused`,
        );
        assert.equal(stats().warmProcesses, WARM, `a refused value (${String(bad)}) must not change the size`);
      }
      for (const good of [0, 64, WARM]) {
        assert.deepEqual(sc.configureRunner({ warmProcesses: good }), { warmProcesses: good });
        assert.equal(stats().warmProcesses, good);
      }
    } finally {
      reset();
    }
  });
});

// ---------------------------------------------------------------------------
// Lifecycle, per profile
// ---------------------------------------------------------------------------

for (const profile of PROFILES) {
  describe(`warm pool lifecycle (profile ${profile})`, () => {
    test('after closeRunner() the first run is cold, then the pool warms; a warm run consumes one idle process and a replacement appears', TEST_TIMEOUT, async () => {
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: WARM });
        await sc.closeRunner();
        assert.equal(stats().idle, 0);
        assert.deepEqual(stats().idlePids, []);

        const first = await run('export default (c) => c.n + 1', { context: { n: 1 } });
        assert.equal(first.result, 2, JSON.stringify(first));
        const warm = await waitIdle(WARM);
        const before = warm.idlePids;
        assert.equal(before.length, WARM);
        assert.equal(new Set(before).size, WARM, 'idle pids are distinct');
        for (const pid of before) assert.ok(!isDead(ident(pid)), `idle pid ${pid} is alive`);

        const r = await run('export default () => process.ppid');
        const afterRun = stats().idlePids;
        const consumed = before.filter((p) => !afterRun.includes(p));
        assert.equal(consumed.length, 1, `exactly one idle process is taken (before ${before}, after ${afterRun})`);
        if (profile === 'off') {
          // No PID namespace: the runtime's parent is the pooled init itself.
          assert.equal(r.result, consumed[0]);
        } else {
          assert.equal(r.result, 1, 'in its own PID namespace the runtime is the child of pid 1');
        }
        // Killed when the run settles, reaped in the background right after.
        assert.ok(eventually(() => !fs.existsSync(`/proc/${consumed[0]}`)), `the consumed init ${consumed[0]} is gone after the run`);

        const refilled = await waitFor(() => {
          const s = stats();
          return s.idle === WARM && s.idlePids.some((p) => !before.includes(p)) ? s : null;
        }, 'a replacement idle process');
        assert.ok(!refilled.idlePids.includes(consumed[0]));
        const kept = before.filter((p) => p !== consumed[0]);
        for (const pid of kept) assert.ok(refilled.idlePids.includes(pid), `untouched idle process ${pid} stays idle`);
      } finally {
        reset();
      }
    });

    test('a burst larger than the pool: every run is correct and sees its own context', TEST_TIMEOUT, async () => {
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: WARM });
        await warmUp();
        const N = 8;
        const script = [
          "console.log('run ' + globalThis.context.i);",
          'export default async (c) => {',
          '  await new Promise((r) => setTimeout(r, 20));',
          '  return { i: c.i, twice: c.i * 2, seen: globalThis.context.i, tag: c.tag };',
          '};',
        ].join('\n');
        const started = Date.now();
        const results = await Promise.all(
          Array.from({ length: N }, (_, i) => run(script, { context: { i, tag: `t${i}-${'x'.repeat(i * 1000)}` } })),
        );
        assert.ok(Date.now() - started < 120000, 'the burst finishes in reasonable time');
        results.forEach((r, i) => {
          assert.deepEqual(
            { result: r.result, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut, error: r.error },
            { result: { i, twice: i * 2, seen: i, tag: `t${i}-${'x'.repeat(i * 1000)}` }, stdout: `run ${i}`, stderr: '', timedOut: false, error: undefined },
            `run ${i}`,
          );
        });
        const s = await waitIdle(WARM);
        assert.ok(s.idlePids.length >= WARM, JSON.stringify(s));
      } finally {
        reset();
      }
    });

    test('a pooled process killed while idle is never handed a job; the pool refills', TEST_TIMEOUT, async () => {
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: WARM });
        const { idlePids } = await warmUp();
        const victim = idlePids[0];
        const victimTree = tree(victim);
        process.kill(victim, 'SIGKILL');
        // Killed while idle: wait until it is really dead (a zombie the
        // pool has not reaped yet) before the next runs are dispatched.
        await waitAllDead(victimTree.slice(0, 1), `the killed init ${victim}`);
        for (let k = 0; k < 3; k++) {
          const r = await run('export default (c) => c.k', { context: { k } });
          assert.equal(r.result, k, `run ${k} after the kill: ${JSON.stringify(r)}`);
          assert.equal(r.error, undefined);
        }
        const s = await waitIdle(WARM);
        assert.ok(!s.idlePids.includes(victim));
        assert.ok(!fs.existsSync(`/proc/${victim}`), 'the killed process was reaped');
        await waitAllDead(victimTree, 'the killed process and its runtime');
      } finally {
        reset();
      }
    });

    test('a pooled process killed right before dispatch is not handed the job', {
      ...TEST_TIMEOUT,
    }, async () => {
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: WARM });
        for (let round = 0; round < 5; round++) {
          const { idlePids } = await warmUp();
          for (const pid of idlePids) process.kill(pid, 'SIGKILL');
          // The kill has landed (the init is a zombie or gone) but the pool
          // has not noticed yet. A kill racing the dispatch itself can cost
          // that one run ("exited without producing a result"); it never
          // runs a script twice.
          await waitKillLanded(idlePids);
          const r = await run('export default 42');
          assert.equal(r.result, 42, `round ${round}: ${JSON.stringify({ ...r, sandbox: undefined })}`);
        }
      } finally {
        // A killed process may still sit in the pool, not yet seen dead:
        // do not let it reach the next test.
        await sc.closeRunner();
        reset();
      }
    });

    test('a sandbox policy change retires idle processes; new ones are prepared for the new policy', TEST_TIMEOUT, async () => {
      const other = profile === 'off' ? 'standard' : 'off';
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: WARM });
        const { idlePids: old } = await warmUp();
        const oldTrees = old.flatMap(tree);
        sc.configureSandbox({ profile: other });
        assert.equal(stats().idle, 0, 'nothing prepared under the old policy stays idle');
        for (const pid of old) assert.ok(!fs.existsSync(`/proc/${pid}`), `retired init ${pid} is gone`);
        await waitAllDead(oldTrees, 'the retired processes');

        const r = await run('export default () => 7');
        assert.equal(r.result, 7);
        assert.equal(r.sandbox.requested.enabled, other !== 'off');
        const { idlePids: fresh } = await waitIdle(WARM);
        assert.ok(fresh.every((p) => !old.includes(p)), `new idle pids ${fresh} differ from the old ${old}`);

        const warmRun = await run('export default () => 8');
        assert.equal(warmRun.result, 8);
        assert.deepEqual(warmRun.sandbox, r.sandbox, 'a warm run under the new policy reports the new policy');
        assert.equal(stats().idlePids.filter((p) => fresh.includes(p)).length, WARM - 1, 'the warm run took a new process');
      } finally {
        reset();
      }
    });

    test('closeRunner() kills every idle process; warmProcesses 0 keeps none', TEST_TIMEOUT, async () => {
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: WARM });
        const { idlePids } = await warmUp();
        const trees = idlePids.flatMap(tree);
        const closed = sc.closeRunner();
        assert.ok(closed instanceof Promise, 'closeRunner() returns a promise');
        await closed;
        assert.equal(stats().idle, 0);
        for (const pid of idlePids) assert.ok(!fs.existsSync(`/proc/${pid}`), `init ${pid} is gone`);
        await waitAllDead(trees, 'the closed pool processes');

        assert.deepEqual(sc.configureRunner({ warmProcesses: 0 }), { warmProcesses: 0 });
        assert.equal(stats().warmProcesses, 0);
        const results = await Promise.all([run('export default 1'), run('export default 2'), run('export default 3')]);
        assert.deepEqual(results.map((r) => r.result), [1, 2, 3]);
        assert.equal(await run('export default 4').then((r) => r.result), 4);
        assert.equal(stats().idle, 0);
        await sleep(500);
        assert.deepEqual(stats(), { warmProcesses: 0, idle: 0, idlePids: [], burst: 0, stagingDirs: 0 });
        // Nothing started by the runner is left: no child of this process
        // is a scriptcage init (they carry the spawner thread's name).
        assert.deepEqual(runnerChildren(), []);
      } finally {
        reset();
      }
    });

    test('a timeout in a pooled run gives the timeout result, leaves no process, and the pool refills', TEST_TIMEOUT, async () => {
      try {
        sc.configureSandbox({ profile });
        sc.configureRunner({ warmProcesses: 0 });
        const cold = await run('while (true) {}', { timeoutMs: 300 });

        sc.configureRunner({ warmProcesses: WARM });
        const { idlePids: before } = await warmUp();
        const trees = new Map(before.map((pid) => [pid, tree(pid)]));
        const dirs = new Map(before.map((pid) => [pid, stagingDir(pid)]));
        for (const [pid, t] of trees) assert.ok(t.length >= 2, `pooled init ${pid} has its runtime child`);

        const started = Date.now();
        const r = await run('while (true) {}', { timeoutMs: 300 });
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 10000, `a 300 ms timeout returns well within 10 s (took ${elapsed} ms)`);

        const { sandbox, usage, ...rest } = r;
        assert.deepEqual(rest, { stdout: '', stderr: '', timedOut: true, error: 'Script execution timed out' });
        assert.deepEqual(Object.keys(r), ['stdout', 'stderr', 'timedOut', 'error', 'sandbox', 'usage']);
        const { usage: coldUsage, ...coldRest } = cold;
        assert.deepEqual({ ...rest, sandbox }, coldRest, 'the pooled timeout result equals the cold one');
        assert.deepEqual(Object.keys(usage), Object.keys(coldUsage));

        const consumed = before.filter((p) => !stats().idlePids.includes(p));
        assert.equal(consumed.length, 1);
        const pid = consumed[0];
        await waitAllDead(trees.get(pid), `init ${pid} and its descendants`);
        assert.deepEqual(descendants(pid), []);
        const dir = dirs.get(pid);
        assert.ok(dir, 'the staging directory was found from the runtime argv');
        const holders = allProcs().filter((p) => p.state !== 'Z' && cmdline(p.pid).some((a) => a.includes(dir)));
        assert.deepEqual(holders.map((p) => p.pid), [], `no process still runs from ${dir}`);
        assert.ok(!fs.existsSync(dir), `the staging directory ${dir} is removed`);

        const s = await waitFor(() => {
          const now = stats();
          return now.idle === WARM && !now.idlePids.includes(pid) ? now : null;
        }, 'the pool to refill after the timeout');
        assert.equal(s.idlePids.filter((p) => !before.includes(p)).length >= 1, true);
      } finally {
        reset();
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Host exit
// ---------------------------------------------------------------------------

const HOST_SOURCE = `'use strict';
const sc = require(${JSON.stringify(PKG)});
const profile = process.argv[2];
sc.configureSandbox({ profile });
sc.configureRunner({ warmProcesses: ${WARM} });
(async () => {
  const r = await sc.runEsmScript({ script: 'export default 1', timeoutMs: 30000 });
  if (r.result !== 1) {
    console.log(JSON.stringify({ error: r }));
    process.exit(2);
  }
  const deadline = Date.now() + 30000;
  while (sc.runnerStats().idle < sc.runnerStats().warmProcesses) {
    if (Date.now() > deadline) {
      console.log(JSON.stringify({ error: 'the pool did not warm', stats: sc.runnerStats() }));
      process.exit(2);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (cmd) => {
    if (cmd.includes('exit')) process.exit(0);
    if (cmd.includes('throw')) throw new Error('uncaught in the host');
  });
  setInterval(() => {}, 1 << 30);
  console.log(JSON.stringify({ idlePids: sc.runnerStats().idlePids }));
})();
`;

let hostDir;
function hostScript() {
  if (!hostDir) {
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-pool-test-'));
    fs.writeFileSync(path.join(hostDir, 'host.js'), HOST_SOURCE);
  }
  return path.join(hostDir, 'host.js');
}

/**
 * Starts a child host that warms its pool and prints its idle pids; returns
 * the child, the pids, every pooled process (inits and descendants) and the
 * pooled staging directories.
 */
async function startHost(profile) {
  const env = { ...process.env };
  delete env.SCRIPTCAGE_WARM_PROCESSES;
  delete env.SCRIPTCAGE_SANDBOX;
  const child = spawn(process.execPath, [hostScript(), profile], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = null;
  exited.then((e) => (gone = e));
  const line = await waitFor(() => {
    if (gone) throw new Error(`host exited early ${JSON.stringify(gone)}: ${out} ${err}`);
    const nl = out.indexOf('\n');
    return nl === -1 ? null : out.slice(0, nl);
  }, 'the child host to report its idle pids', 60000);
  const msg = JSON.parse(line);
  assert.ok(Array.isArray(msg.idlePids), `host reported ${line}`);
  assert.equal(msg.idlePids.length, WARM);
  const procs = msg.idlePids.flatMap(tree);
  const dirs = msg.idlePids.map(stagingDir);
  for (const pid of msg.idlePids) assert.ok(descendants(pid).length >= 1, `pooled init ${pid} has a runtime child`);
  return { child, exited, pids: msg.idlePids, procs, dirs, stderr: () => err };
}

const ENDINGS = {
  'SIGKILL of the host': (child) => child.kill('SIGKILL'),
  'process.exit(0) in the host': (child) => child.stdin.write('exit\n'),
  'an uncaught exception in the host': (child) => child.stdin.write('throw\n'),
};

for (const profile of PROFILES) {
  describe(`no pooled process outlives the host (profile ${profile})`, () => {
    for (const [ending, end] of Object.entries(ENDINGS)) {
      test(`after ${ending}`, TEST_TIMEOUT, async () => {
        const host = await startHost(profile);
        try {
          end(host.child);
          const status = await Promise.race([host.exited, sleep(20000).then(() => null)]);
          assert.ok(status, 'the host ended');
          if (ending.startsWith('SIGKILL')) assert.equal(status.signal, 'SIGKILL');
          else if (ending.startsWith('process.exit')) assert.deepEqual(status, { code: 0, signal: null });
          else {
            assert.notEqual(status.code, 0, 'an uncaught exception ends the host with a failure code');
            assert.match(host.stderr(), /uncaught in the host/);
          }
          await waitAllDead(host.procs, `the pooled processes of the dead host (${host.pids})`, 5000);
        } finally {
          if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL');
          // A host that dies leaves its pooled staging directories behind
          // (always after SIGKILL; see the todo test below for a normal
          // exit): remove them.
          await host.exited;
          for (const d of host.dirs) if (d) fs.rmSync(d, { recursive: true, force: true });
        }
      });
    }

    test('idle staging directories are removed when the host exits normally', {
      ...TEST_TIMEOUT,
    }, async () => {
      for (const ending of ['process.exit(0) in the host', 'an uncaught exception in the host']) {
        const host = await startHost(profile);
        try {
          assert.ok(host.dirs.every(Boolean), 'staging directories found');
          ENDINGS[ending](host.child);
          await host.exited;
          await waitAllDead(host.procs, 'the pooled processes', 5000);
          const left = host.dirs.filter((d) => fs.existsSync(d));
          // Clean up what the bug leaves behind before asserting.
          for (const d of left) fs.rmSync(d, { recursive: true, force: true });
          assert.deepEqual(left, [], `after ${ending}`);
        } finally {
          if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL');
        }
      }
    });
  });
}

// ---------------------------------------------------------------------------
// A warm run is indistinguishable from a cold run
// ---------------------------------------------------------------------------

const RUN_DIR = /\/(?:[^\s/'"`()<>]+\/)*\.?scriptcage-[A-Za-z0-9_]{4,}/g;

/** Replaces the staging directory in every string of `value`. */
function normalise(value) {
  if (typeof value === 'string') return value.replace(RUN_DIR, '<RUN_DIR>');
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = normalise(value[k]);
    return out;
  }
  return value;
}

const PROTO_CONTEXT = JSON.parse('{"__proto__":{"x":1},"y":2}');

const CASES = [
  {
    name: 'plain value from the context',
    script: 'export default (c) => ({ doubled: c.n * 2, list: [1, "two", null, true, 1.5], nested: { deep: { ok: true } }, missing: undefined })',
    context: { n: 21 },
  },
  { name: 'legacy body with return', script: 'return context.n + 1;', context: { n: 41 } },
  { name: 'returns undefined', script: 'export default () => {}' },
  {
    name: 'thrown Error (sync)',
    script: 'export default (c) => { throw new TypeError("bad input: " + JSON.stringify(c)); }',
    context: { a: 1 },
  },
  {
    name: 'rejection after an await',
    script: 'export default async () => { await new Promise((r) => setTimeout(r, 5)); throw new RangeError("later"); }',
  },
  { name: 'thrown non-Error values', script: 'export default () => { throw { code: 42, toString() { return "custom"; } }; }' },
  { name: 'top-level throw while loading', script: 'throw new Error("at load");\nexport default 1;' },
  { name: 'syntax error', script: 'export default (;' },
  { name: 'toJSON that throws (report frames)', script: 'export default () => ({ toJSON() { throw new Error("no json"); } })' },
  {
    name: 'stdout and stderr',
    script: 'console.log("to stdout", 1, { a: [1, 2] });\nconsole.error("to stderr");\nprocess.stdout.write("  trailing spaces  \\n");\nexport default "done";',
  },
  {
    name: 'env injection with forbidden keys',
    script: 'export default () => ({ greeting: process.env.GREETING, empty: process.env.EMPTY, nodeOptions: process.env.NODE_OPTIONS ?? null, ldPreload: process.env.LD_PRELOAD ?? null, pathIsEvil: process.env.PATH === "/evil", bunConfig: process.env.BUN_CONFIG_REGISTRY ?? null, tz: process.env.TZ, date: new Date(0).toString() })',
    env: { GREETING: 'hi there', EMPTY: '', NODE_OPTIONS: '--inspect', LD_PRELOAD: '/nope.so', PATH: '/evil', BUN_CONFIG_REGISTRY: 'http://x', TZ: 'UTC' },
  },
  {
    name: 'helper import',
    script: 'import { defineHealthCheck } from "@checkstack/healthcheck";\nexport default defineHealthCheck({ name: "hc", global: typeof globalThis.defineHealthCheck, same: globalThis.defineHealthCheck(5) })',
    ...HELPER,
  },
  {
    name: 'helper import with a thrown Error (helper line layout)',
    script: 'import { defineHealthCheck } from "@checkstack/healthcheck";\nexport default () => { throw new Error(defineHealthCheck("boom")); }',
    ...HELPER,
  },
  {
    name: 'helper import with a top-level throw (helper line layout)',
    script: 'import { defineHealthCheck } from "@checkstack/healthcheck";\nthrow new Error(defineHealthCheck("load"));\nexport default 1;',
    ...HELPER,
  },
  {
    name: 'context with a __proto__ key',
    script: 'export default (c) => ({ keys: Object.keys(c), x: c.x ?? null, own: Object.prototype.hasOwnProperty.call(c, "__proto__"), plainProto: Object.getPrototypeOf(c) === Object.prototype, json: JSON.stringify(c) })',
    context: PROTO_CONTEXT,
  },
  {
    name: 'undefined context',
    script: 'export default (c) => ({ type: typeof c, global: typeof globalThis.context, inGlobal: "context" in globalThis })',
    context: undefined,
  },
  {
    name: 'Date in the context and as the context',
    script: 'export default (c) => ({ type: typeof c, c })',
    context: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
  },
  {
    name: 'Date nested in the context',
    script: 'export default (c) => ({ type: typeof c.when, when: c.when, parsed: new Date(c.when).getTime() })',
    context: { when: new Date(0) },
  },
  {
    name: 'unicode in context, output and result',
    script: 'console.log("ünïcødé ✓ 😀 日本");\nexport default (c) => ({ s: c.s, len: c.s.length, rev: [...c.s].reverse().join(""), lone: "\\ud800" })',
    context: { s: 'héllo wörld ✓ 😀 日本 \u2028 \u2029 "q" \\ \t end', 'ключ ✓': 1 },
  },
  { name: 'process.exit(3) at load', script: 'console.log("before exit");\nprocess.exit(3);' },
  { name: 'process.exit(0) inside the default export', script: 'export default () => { console.error("bye"); process.exit(0); }' },
  {
    name: 'process.env keys (order included)',
    script: 'export default () => ({ keys: Object.keys(process.env), sorted: Object.keys(process.env).sort() })',
    env: { EXTRA_ONE: '1', EXTRA_TWO: '2', HOME: '/overridden' },
  },
  { name: 'process.cwd()', script: 'export default () => process.cwd()' },
  {
    name: 'process.argv and friends do not reveal the pool',
    script: 'import path from "node:path";\nexport default () => ({ argv: process.argv, execArgv: process.execArgv, argv0: process.argv0, title: process.title, runner: path.basename(process.argv[1]) })',
  },
  {
    name: 'stdin is the same (/dev/null, empty)',
    script: 'import fs from "node:fs";\nexport default () => { const st = fs.fstatSync(0); return { fifo: st.isFIFO(), chr: st.isCharacterDevice(), ctor: process.stdin.constructor.name, data: fs.readFileSync(0, "utf8") }; }',
  },
  {
    name: 'staging directory listing',
    script: 'import fs from "node:fs";\nimport path from "node:path";\nimport { fileURLToPath } from "node:url";\nexport default () => ({ url: import.meta.url, files: fs.readdirSync(path.dirname(fileURLToPath(import.meta.url))).sort() })',
    ...HELPER,
  },
  { name: 'large context (bigger than a pipe buffer)', script: 'export default (c) => [c.big.length, c.big.slice(0, 3)]', context: { big: 'abc'.repeat(100000) } },
];

function optionsOf(c) {
  const { name, script, ...rest } = c;
  return { script, timeoutMs: RUN_TIMEOUT_MS, ...rest };
}

async function waitKillLanded(pids) {
  const deadline = Date.now() + 5000;
  for (const pid of pids) {
    for (;;) {
      let state = null;
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2)[0];
      } catch {
        break; // gone
      }
      if (state === 'Z' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

async function coldAndWarm(profile, opts, { pooled = true } = {}) {
  sc.configureSandbox({ profile });
  sc.configureRunner({ warmProcesses: 0 });
  assert.equal(stats().idle, 0);
  const cold = await sc.runEsmScript(opts);

  sc.configureRunner({ warmProcesses: WARM });
  const { idlePids: before } = await warmUp();
  const warm = await sc.runEsmScript(opts);
  const consumed = before.filter((p) => !stats().idlePids.includes(p));
  if (pooled) assert.equal(consumed.length, 1, 'the second run took a pooled process');
  else assert.equal(consumed.length, 0, 'the second run started cold');
  return { cold, warm };
}

// The usage figures differ from run to run; their shape does not.
function withoutFigures(r) {
  const { usage, ...rest } = r;
  return { ...rest, usage: usage && Object.keys(usage) };
}

function assertSame(cold, warm) {
  assert.deepEqual(Object.keys(warm), Object.keys(cold), 'same result keys in the same order');
  assert.deepEqual(normalise(withoutFigures(warm)), normalise(withoutFigures(cold)));
}

for (const profile of PROFILES) {
  describe(`a warm run is indistinguishable from a cold run (profile ${profile})`, () => {
    for (const c of CASES) {
      test(c.name, TEST_TIMEOUT, async () => {
        try {
          const { cold, warm } = await coldAndWarm(profile, optionsOf(c));
          assertSame(cold, warm);
        } finally {
          reset();
        }
      });
    }

    test('injected variables that the runtime reads at start-up (LANG, NODE_PATH, NODE_NO_WARNINGS)', {
      ...TEST_TIMEOUT,
    }, async () => {
      const npDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-pool-np-'));
      try {
        fs.mkdirSync(path.join(npDir, 'from-node-path'));
        fs.writeFileSync(path.join(npDir, 'from-node-path', 'index.js'), 'module.exports = 1;\n');
        const script = [
          'import { createRequire } from "node:module";',
          'export default () => {',
          '  process.emitWarning("a warning");',
          '  let np;',
          '  try { np = createRequire(import.meta.url).resolve("from-node-path"); } catch (e) { np = e.code; }',
          '  return { locale: Intl.DateTimeFormat().resolvedOptions().locale, np };',
          '};',
        ].join('\n');
        const env = { LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8', NODE_PATH: npDir, NODE_NO_WARNINGS: '1' };
        // These variables only take effect at start-up: such a run is started
        // cold even when the pool has a process for it.
        const { cold, warm } = await coldAndWarm(profile, { script, timeoutMs: RUN_TIMEOUT_MS, env }, { pooled: false });
        // Warnings carry the runtime's pid (`(node:1234)`): compare without it.
        const strip = (r) => normalise({ ...r, stderr: r.stderr.replace(/\((node|bun):\d+\)/g, '($1:<pid>)') });
        assertSame(strip(cold), strip(warm));
      } finally {
        fs.rmSync(npDir, { recursive: true, force: true });
        reset();
      }
    });

    test('a context string holding U+2028 does not move stack frames', {
      ...TEST_TIMEOUT,
    }, async () => {
      try {
        const { cold, warm } = await coldAndWarm(profile, {
          script: 'export default () => { throw new Error("x"); }',
          context: { s: 'a\u2028b\u2029c' },
          timeoutMs: RUN_TIMEOUT_MS,
        });
        assertSame(cold, warm);
      } finally {
        reset();
      }
    });

    test('staged files are owned by the sandbox uid, as in a cold run', {
      ...TEST_TIMEOUT,
      skip: profile === 'off' || !IS_ROOT || !sc.sandboxCapabilities().userNamespaces ? 'needs root, user namespaces and a sandbox' : false,
    }, async () => {
      try {
        sc.configureSandbox({ profile, privilege: { uid: 1000, gid: 1000 } });
        const script = 'import fs from "node:fs";\nexport default () => fs.readdirSync(new URL(".", import.meta.url)).sort().map((f) => f + ":" + fs.statSync(new URL(f, import.meta.url)).uid)';
        const opts = { script, timeoutMs: RUN_TIMEOUT_MS, ...HELPER };
        sc.configureRunner({ warmProcesses: 0 });
        const cold = await sc.runEsmScript(opts);
        sc.configureRunner({ warmProcesses: WARM });
        await warmUp();
        const warm = await sc.runEsmScript(opts);
        assertSame(cold, warm);
      } finally {
        sc.configureSandbox({ profile: 'standard', privilege: { uid: null, gid: null } });
        reset();
      }
    });
  });
}

after(async () => {
  reset();
  // Processes still being started when the pool is closed are discarded
  // when they finish booting; wait for that, so that none is cut off by
  // the end of this process (which would leave its staging directory).
  await sc.closeRunner();
  await waitFor(() => runnerChildren().length === 0, 'pooled processes being started to settle', 20000).catch(() => {});
  await sc.closeRunner();
  if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
});
