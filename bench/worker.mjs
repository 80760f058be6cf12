// Benchmark worker: measures ONE contender under the runtime that runs this
// file (`node --expose-gc bench/worker.mjs <json>` or `bun bench/worker.mjs
// <json>`). bench/run.js starts one worker per contender and drives it over
// stdin/stdout, one JSON object per line, so that contenders can be
// interleaved (A B A B …) while each keeps its own warmed-up process.
//
// argv[2] is the contender, as JSON:
//   { kind: 'scriptcage' | 'seed' | 'bare', profile?, warm?, indexPath?,
//     seedPath?, runtimePath?, clkTck, holdMiB?, cpuCgroup?: { kind: 'v1' | 'v2', dir },
//     workloads: { name: { body | module, context, check } } }
//   holdMiB: MiB of filled Buffers this worker holds resident for its whole
//   life (the host-size sweep); between runs it writes into every 16th MiB,
//   as a busy backend writes into its heap.
//   cpuCgroup: a CPU-accounting cgroup made for this worker by run.js; the
//   worker moves itself into it first thing, so that every process it
//   starts is counted, including those killed before anyone reaps them.
//
// Requests (stdin) and replies (stdout):
//   { op: 'batch', workload, iterations, concurrency }
//       → { latencies: [ms…], wallMs, cpuSelfMs, cpuChildrenMs, cpuCgroupMs,
//           hostCpuMs, minorFaults, pollCpuMs, errors, firstError, settleMs }
//         (cpuCgroupMs: the worker's whole tree; hostCpuMs / minorFaults:
//         this process's own; all three up to the end of the settle wait,
//         less pollCpuMs, the bench's own polling)
//   { op: 'handover', iterations }
//       → { handoverMs: [ms…], importMs: [ms…], returnMs: [ms…], latencies, clock, errors, firstError }
//         (sequential runs of a module that reads a cross-process clock as
//         its first statement and again at the default export's return)
//   { op: 'rss', workload, topUp, concurrency }
//       → { rssBefore, rssAfter, runs, descendants, descendantsRss, … }
//         (bytes after a GC: after warm-up, now; descendants = idle pooled processes)
//   { op: 'flood', bytes }
//       → { rssBefore, rssPeak, rssAfter, peakSource, wallMs, outcome }
//   { op: 'exit' }
// The first line the worker writes is { ready: true, … } or { fatal: message }.

import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
const IS_BUN = typeof process.versions.bun === 'string';
const spec = JSON.parse(process.argv[2]);
const CLK_TCK = spec.clkTck || 100;
// Per-run timeout: far above any healthy run (even at concurrency 32 on a
// loaded machine), low enough that a hung run costs seconds, not minutes.
// A timed-out run counts as an error and its latency is the timeout.
const TIMEOUT_MS = spec.timeoutMs || 15_000;
const FLOOD_TIMEOUT_MS = 120_000;

// The environment the seed and scriptcage hand to their child; the bare
// contender gets the same so that the floor is comparable.
const SAFE_ENV_VARS = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'HOSTNAME', 'SHELL'];

function send(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

// ---------------------------------------------------------------------------
// Resource readings
// ---------------------------------------------------------------------------

/** CPU (ms) of this process's reaped descendants: cutime + cstime of /proc/self/stat. */
function childrenCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after "(comm) ": index 0 is field 3 (state), so field 16 (cutime) is index 13.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[13]) + Number(rest[14])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Moves this process into its CPU-accounting cgroup; false when that fails. */
function joinCgroup() {
  if (!spec.cpuCgroup) return false;
  try {
    writeFileSync(path.join(spec.cpuCgroup.dir, 'cgroup.procs'), String(process.pid));
    return true;
  } catch {
    return false;
  }
}
const IN_CGROUP = joinCgroup();

/**
 * CPU (ms) of everything in this worker's cgroup: this process and all its
 * descendants, alive, reaped or not (NaN without a cgroup).
 */
function cgroupCpuMs() {
  if (!IN_CGROUP) return NaN;
  try {
    if (spec.cpuCgroup.kind === 'v1') return Number(readFileSync(path.join(spec.cpuCgroup.dir, 'cpuacct.usage'), 'utf8')) / 1e6;
    const m = /^usage_usec (\d+)/m.exec(readFileSync(path.join(spec.cpuCgroup.dir, 'cpu.stat'), 'utf8'));
    return m ? Number(m[1]) / 1000 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU (ms) of this process itself, all threads (µs precision). */
function selfCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// CPU and minor faults of the bench's own polling (the wait for a booted
// pool, the settle scan of /proc), taken out of the per-run figures: each
// synchronous poll is measured, and each timer wake-up between polls is
// charged the cost of an idle wake-up measured at start (`calibrateWakeups`).
let benchCpuMs = 0;
let benchFaults = 0;
let wakeupCpuMs = 0;

/** Sleeps `ms` as one of the bench's polls. */
async function pollSleep(ms) {
  await new Promise((r) => setTimeout(r, ms));
  benchCpuMs += wakeupCpuMs;
}

/** The CPU of one idle timer wake-up of this process (run while nothing else is going on). */
async function calibrateWakeups(n = 100) {
  const c0 = selfCpuMs();
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 1));
  wakeupCpuMs = (selfCpuMs() - c0) / n;
}

function benchSync(fn) {
  const c0 = selfCpuMs();
  const f0 = minorFaults();
  try {
    return fn();
  } finally {
    benchCpuMs += selfCpuMs() - c0;
    benchFaults += minorFaults() - f0;
  }
}

function collectGarbage() {
  if (IS_BUN) globalThis.Bun.gc(true);
  else if (typeof globalThis.gc === 'function') globalThis.gc();
}

function rss() {
  return process.memoryUsage().rss;
}

/** Minor page faults of this process so far (NaN where the runtime lacks resourceUsage). */
function minorFaults() {
  try {
    return process.resourceUsage().minorPageFault;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------
// The host-size sweep: memory held resident, clocks shared with the child
// ---------------------------------------------------------------------------

const held = [];

/** Allocates `mib` filled (so resident) 1 MiB Buffers and keeps them. */
function hold(mib) {
  for (let i = 0; i < mib; i++) held.push(Buffer.alloc(1 << 20, 1));
}

let touchRound = 0;

/** Writes one byte into every 16th held MiB (a copy-on-write fault each after a fork of the host). */
function touchHeld() {
  if (held.length === 0) return;
  touchRound = (touchRound + 1) & 0xfff;
  for (let i = 0; i < held.length; i += 16) held[i][touchRound] = touchRound & 0xff;
}

// Clocks both sides of a run can read. Node's process.hrtime.bigint() is
// CLOCK_MONOTONIC, which every process on the machine shares. Bun's counts
// from its own process start, so a Bun module reads performance.timeOrigin
// + performance.now() instead: the wall clock at process start plus a
// monotonic clock since (the same in every process unless the wall clock is
// stepped during the run).
const clocks = {
  mono: IS_BUN ? null : () => Number(process.hrtime.bigint()) / 1e6,
  real: () => performance.timeOrigin + performance.now(),
};

// The hand-over module: the clock as its first statement, the default
// export returns its readings (as strings: a result is JSON).
const HANDOVER_MODULE =
  'const __first = typeof Bun === "undefined" ? process.hrtime.bigint() : performance.timeOrigin + performance.now();\n' +
  'export default () => {\n' +
  '  const kind = typeof Bun === "undefined" ? "mono" : "real";\n' +
  '  const call = kind === "mono" ? process.hrtime.bigint() : performance.timeOrigin + performance.now();\n' +
  '  return kind + " " + __first + " " + call + " " + (kind === "mono" ? process.hrtime.bigint() : performance.timeOrigin + performance.now());\n' +
  '};\n';

/** Readings of the hand-over module, in ms on the clock it names. */
function parseHandover(result) {
  if (typeof result !== 'string') return null;
  const [kind, ...values] = result.split(' ');
  if (!(kind in clocks) || values.length !== 3) return null;
  const ms = values.map((v) => (kind === 'mono' ? Number(BigInt(v)) / 1e6 : Number(v)));
  return { kind, first: ms[0], call: ms[1], ret: ms[2] };
}

/** Reads a `VmXXX:  N kB` line of /proc/self/status, in bytes (NaN when absent). */
function procStatus(field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; false when not allowed. */
function resetPeakRss() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * This worker's live descendants (e.g. idle pooled processes): count, CPU
 * ticks so far and RSS bytes, from /proc/<pid>/stat.
 */
function descendants() {
  const byParent = new Map();
  let names;
  try {
    names = readdirSync('/proc');
  } catch {
    return { count: 0, cpuTicks: 0, rssBytes: 0 };
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const entry = { pid: Number(name), cpuTicks: Number(rest[11]) + Number(rest[12]), rssPages: Number(rest[21]) };
      if (!byParent.has(ppid)) byParent.set(ppid, []);
      byParent.get(ppid).push(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  const out = { count: 0, cpuTicks: 0, rssBytes: 0 };
  const stack = [process.pid];
  while (stack.length) {
    for (const child of byParent.get(stack.pop()) || []) {
      out.count++;
      out.cpuTicks += child.cpuTicks;
      out.rssBytes += child.rssPages * 4096;
      stack.push(child.pid);
    }
  }
  return out;
}

/**
 * Waits until background work this contender left behind (a warm pool
 * starting replacements) has gone quiet, so that it does not run during the
 * next contender's turn. Returns the milliseconds waited.
 */
async function settle(maxMs = 3000) {
  const t0 = performance.now();
  let prev = benchSync(descendants);
  if (prev.count === 0) return 0;
  let stable = 0;
  while (performance.now() - t0 < maxMs && stable < 2) {
    await pollSleep(25);
    const now = benchSync(descendants);
    stable = now.count === prev.count && now.cpuTicks === prev.cpuTicks ? stable + 1 : 0;
    prev = now;
  }
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------
// Contenders: each becomes `runOnce(workload) → Promise<{ ok, detail }>`
// ---------------------------------------------------------------------------

function checkResult(workload, r) {
  if (!r || r.timedOut) return 'timed out';
  if (r.error !== undefined) return `error: ${String(r.error).slice(0, 200)}`;
  if (workload.check.result !== undefined && r.result !== workload.check.result) {
    return `unexpected result ${JSON.stringify(r.result)}`;
  }
  if (workload.check.stdoutLength !== undefined && r.stdout.length !== workload.check.stdoutLength) {
    return `stdout length ${r.stdout.length}, expected ${workload.check.stdoutLength}`;
  }
  return null;
}

/**
 * Warm contenders, sequential runs: wait (untimed) until the pool is fully
 * booted, so the figure is the latency of a run that finds a process. A
 * caller that fires runs back to back faster than the runtime boots gets
 * cold runs for the excess, which the throughput figures show.
 */
let paceWarm = null;

async function makeScriptcage() {
  const sc = require(spec.indexPath);
  if (spec.warm && typeof sc.runnerStats === 'function') {
    paceWarm = async () => {
      const end = performance.now() + 2000;
      // The whole pool booted: no replacement competes for the CPU with
      // the timed run (the steady state of a caller that runs checks every
      // few seconds).
      const want = sc.runnerStats().warmProcesses;
      while (benchSync(() => sc.runnerStats().idle) < want && performance.now() < end) await pollSleep(5);
    };
  }
  if (spec.warm && typeof sc.configureRunner !== 'function') {
    throw new Error('warm pool not implemented (no configureRunner)');
  }
  if (typeof sc.configureRunner === 'function') {
    sc.configureRunner({ warmProcesses: spec.warm ? 2 : 0 });
  }
  sc.configureSandbox({ profile: spec.profile });
  return {
    run: (workload, timeoutMs = TIMEOUT_MS) => sc.runEsmScript({ script: workload.module, context: workload.context, timeoutMs }),
    close: () => (typeof sc.closeRunner === 'function' ? sc.closeRunner() : undefined),
  };
}

async function makeSeed() {
  if (!IS_BUN) throw new Error('the seed runner imports "bun": Bun only');
  const seed = await import(spec.seedPath);
  const runner = seed.defaultEsmScriptRunner;
  return {
    run: (workload, timeoutMs = TIMEOUT_MS) => runner.run({ script: workload.module, context: workload.context, timeoutMs }),
    close: () => {},
  };
}

// `<runtime> file.mjs` where file.mjs is the workload's module plus the
// smallest possible driver: call the default export with the context and
// print the result. Output is captured through pipes, as the runners do.
async function makeBare() {
  const dir = mkdtempSync(path.join(tmpdir(), 'scriptcage-bench-bare-'));
  const files = new Map();
  const env = {};
  for (const key of SAFE_ENV_VARS) if (process.env[key] !== undefined) env[key] = process.env[key];
  const fileFor = (workload) => {
    let file = files.get(workload.name);
    if (!file) {
      file = path.join(dir, `${workload.name}.mjs`);
      const src =
        `const __f = ${workload.body};\n` +
        `const __r = await __f(${JSON.stringify(workload.context)});\n` +
        `process.stderr.write(JSON.stringify({ result: __r }) + "\\n");\n`;
      writeFileSync(file, src);
      files.set(workload.name, file);
    }
    return file;
  };
  const run = (workload, timeoutMs = TIMEOUT_MS) =>
    new Promise((resolve) => {
      const child = spawn(spec.runtimePath, [fileFor(workload)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out = [];
      const err = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.on('data', (d) => out.push(d));
      child.stderr.on('data', (d) => err.push(d));
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ error: e.message, stdout: '', stderr: '', timedOut: false });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (timedOut) return resolve({ stdout: '', stderr: '', timedOut: true });
        const stdout = Buffer.concat(out).toString('utf8').trim();
        const stderr = Buffer.concat(err).toString('utf8').trim();
        if (code !== 0) return resolve({ error: `exit ${code}: ${stderr.slice(0, 200)}`, stdout, stderr, timedOut: false });
        let result;
        try {
          result = JSON.parse(stderr.slice(stderr.lastIndexOf('\n') + 1)).result;
        } catch {
          return resolve({ error: `no result: ${stderr.slice(0, 200)}`, stdout, stderr, timedOut: false });
        }
        resolve({ result, stdout, stderr: '', timedOut: false });
      });
    });
  return { run, close: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

let contender;
let runsDone = 0;
let rssBaseline = NaN;

/** Runs `iterations` runs with `concurrency` in flight; latency of each run in ms. */
async function runMany(workload, iterations, concurrency) {
  const latencies = [];
  let errors = 0;
  let firstError = null;
  let next = 0;
  const lane = async () => {
    while (next < iterations) {
      next++;
      if (concurrency === 1 && paceWarm && !workload.unpaced) await paceWarm();
      const t0 = performance.now();
      let problem;
      try {
        problem = checkResult(workload, await contender.run(workload));
      } catch (e) {
        problem = `threw: ${e && e.message ? e.message : String(e)}`;
      }
      latencies.push(performance.now() - t0);
      runsDone++;
      touchHeld();
      if (problem) {
        errors++;
        if (!firstError) firstError = problem;
      }
    }
  };
  const lanes = [];
  for (let i = 0; i < Math.min(concurrency, iterations); i++) lanes.push(lane());
  await Promise.all(lanes);
  return { latencies, errors, firstError };
}

async function batch({ workload: name, iterations, concurrency }) {
  const workload = spec.workloads[name];
  const cgroup0 = cgroupCpuMs();
  const self0 = selfCpuMs();
  const children0 = childrenCpuMs();
  const faults0 = minorFaults();
  const bench0 = benchCpuMs;
  const benchFaults0 = benchFaults;
  const t0 = performance.now();
  const r = await runMany(workload, iterations, concurrency);
  const wallMs = performance.now() - t0;
  const cpuSelfMs = selfCpuMs() - self0;
  const cpuChildrenMs = childrenCpuMs() - children0;
  // The host and cgroup figures run on until what the batch left behind
  // (pool replacements, started by the host) is idle: that work belongs to
  // these runs. The bench's own polling is taken out.
  const settleMs = await settle();
  const pollCpuMs = benchCpuMs - bench0;
  return {
    ...r,
    wallMs,
    cpuSelfMs,
    cpuChildrenMs,
    cpuCgroupMs: cgroupCpuMs() - cgroup0 - pollCpuMs,
    hostCpuMs: selfCpuMs() - self0 - pollCpuMs,
    minorFaults: minorFaults() - faults0 - (benchFaults - benchFaults0),
    pollCpuMs,
    settleMs,
  };
}

// Warm hand-over: from the call to the user module's first statement, and
// from the default export's return to the promise settling, on a clock both
// processes share. Sequential and paced like the trivial phase.
async function handover({ iterations }) {
  const workload = spec.workloads.handover;
  const out = { handoverMs: [], importMs: [], returnMs: [], latencies: [], clock: null, errors: 0, firstError: null };
  const fail = (why) => {
    out.errors++;
    if (!out.firstError) out.firstError = why;
  };
  for (let i = 0; i < iterations; i++) {
    if (paceWarm) await paceWarm();
    const tm = clocks.mono ? clocks.mono() : NaN;
    const tr = clocks.real();
    const t0 = performance.now();
    let r;
    let settledMono = NaN;
    let settledReal = NaN;
    try {
      r = await contender.run(workload).then((v) => {
        settledMono = clocks.mono ? clocks.mono() : NaN;
        settledReal = clocks.real();
        return v;
      });
    } catch (e) {
      r = { error: `threw: ${e && e.message ? e.message : String(e)}` };
    }
    out.latencies.push(performance.now() - t0);
    runsDone++;
    touchHeld();
    const problem = checkResult(workload, r);
    if (problem) {
      fail(problem);
      continue;
    }
    const h = parseHandover(r.result);
    if (!h) {
      fail(`unexpected result ${JSON.stringify(r.result).slice(0, 100)}`);
      continue;
    }
    const start = h.kind === 'mono' ? tm : tr;
    const settled = h.kind === 'mono' ? settledMono : settledReal;
    if (!Number.isFinite(start)) {
      fail(`the module read the ${h.kind} clock, which this host cannot read`);
      continue;
    }
    out.clock = h.kind;
    out.handoverMs.push(h.first - start);
    out.importMs.push(h.call - h.first);
    out.returnMs.push(settled - h.ret);
  }
  await settle();
  return out;
}

// Host RSS growth over the worker's whole life: the baseline is taken after
// warm-up, then every batch counts; `topUp` more trivial runs make sure at
// least the requested number of runs happened.
async function rssGrowth({ workload: name, topUp, concurrency }) {
  const t0 = performance.now();
  const r = topUp > 0 ? await runMany(spec.workloads[name], topUp, concurrency) : { errors: 0, firstError: null };
  const wallMs = performance.now() - t0;
  await settle();
  collectGarbage();
  await new Promise((res) => setTimeout(res, 50));
  collectGarbage();
  const idle = descendants();
  return {
    rssBefore: rssBaseline,
    rssAfter: rss(),
    runs: runsDone,
    topUp,
    wallMs,
    errors: r.errors,
    firstError: r.firstError,
    descendants: idle.count,
    descendantsRss: idle.rssBytes,
  };
}

async function flood({ bytes }) {
  const chunk = 1 << 20;
  const chunks = Math.ceil(bytes / chunk);
  const workload = {
    name: 'flood',
    module:
      `const chunk = "x".repeat(${chunk});\n` +
      `for (let i = 0; i < ${chunks}; i++) {\n` +
      `  if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));\n` +
      `}\n` +
      `export default "done";\n`,
    context: {},
  };
  await settle();
  collectGarbage();
  const rssBefore = rss();
  const hwmReset = resetPeakRss();
  // Sampling as well, in case the kernel refuses the peak reset.
  let sampled = rssBefore;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, rss());
  }, 2);
  const t0 = performance.now();
  let r;
  try {
    r = await contender.run(workload, FLOOD_TIMEOUT_MS);
  } catch (e) {
    r = { error: `threw: ${e && e.message ? e.message : String(e)}`, stdout: '' };
  }
  const wallMs = performance.now() - t0;
  clearInterval(timer);
  sampled = Math.max(sampled, rss());
  const hwm = procStatus('VmHWM');
  const rssPeak = hwmReset && Number.isFinite(hwm) ? Math.max(hwm, sampled) : sampled;
  const outcome = {
    result: r.result,
    error: r.error === undefined ? undefined : String(r.error).slice(0, 200),
    timedOut: r.timedOut,
    outputTruncated: r.outputTruncated === true,
    stdoutBytes: typeof r.stdout === 'string' ? Buffer.byteLength(r.stdout) : null,
  };
  r = null;
  collectGarbage();
  return { rssBefore, rssPeak, rssAfter: rss(), peakSource: hwmReset ? 'VmHWM' : 'sampled', wallMs, outcome };
}

async function main() {
  try {
    for (const [name, w] of Object.entries(spec.workloads)) {
      w.name = name;
      if (!w.module) w.module = `export default ${w.body};\n`;
    }
    spec.workloads.handover = { name: 'handover', module: HANDOVER_MODULE, context: {}, check: {} };
    if (spec.holdMiB) hold(spec.holdMiB);
    if (spec.kind === 'scriptcage') contender = await makeScriptcage();
    else if (spec.kind === 'seed') contender = await makeSeed();
    else if (spec.kind === 'bare') contender = await makeBare();
    else throw new Error(`unknown contender kind ${spec.kind}`);
    // Warm-up: module caches, page cache, a lazily started pool.
    const warm = await runMany(spec.workloads.trivial, 3, 1);
    if (warm.errors === 3) throw new Error(`warm-up failed: ${warm.firstError}`);
    runsDone = 0;
    await settle();
    await calibrateWakeups();
    collectGarbage();
    rssBaseline = rss();
  } catch (e) {
    send({ fatal: e && e.message ? e.message : String(e) });
    process.exit(0);
  }
  send({
    ready: true,
    runtime: IS_BUN ? `bun ${globalThis.Bun.version}` : `node ${process.version}`,
    pid: process.pid,
    cgroup: IN_CGROUP,
    wakeupCpuMs,
    heldMiB: held.length,
    rss: rss(),
  });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const req = JSON.parse(line);
    try {
      if (req.op === 'batch') send(await batch(req));
      else if (req.op === 'rss') send(await rssGrowth(req));
      else if (req.op === 'handover') send(await handover(req));
      else if (req.op === 'flood') send(await flood(req));
      else if (req.op === 'exit') break;
      else send({ failed: `unknown op ${req.op}` });
    } catch (e) {
      send({ failed: e && e.stack ? e.stack : String(e) });
    }
  }
  try {
    await contender.close();
  } catch {
    // Best effort.
  }
  process.exit(0);
}

main();
