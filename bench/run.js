#!/usr/bin/env node
'use strict';

// `npm run bench`: the benchmark defined in ../shared/spec/performance.md.
//
// One orchestrator (this file, under Node) and one worker process per
// contender (bench/worker.mjs under Node or Bun), each measuring its own
// runtime. Contenders run in interleaved rounds (A B C … then C B A …) so
// that noise on a shared machine hits them alike; figures are medians or
// pooled percentiles over the rounds.
//
// Output: a Markdown report on stdout (progress goes to stderr) and
// bench/results/latest.json.
//
// Options: --quick (under two minutes on 2 cores), --no-warm (leave out the
// warm-pool contenders), --no-sweep (leave out the host-size sweep),
// --sweep-only (only the sweep), --with-inprocess (add the first round's
// spawn path to the sweep), --json
// <path> (default bench/results/latest.json).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn, spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const INDEX_PATH = path.join(ROOT, 'js', 'index.js');
const WORKER_PATH = path.join(__dirname, 'worker.mjs');
const CORRELATION_PATH = path.join(__dirname, 'correlation.js');
const TYPESCRIPT_PATH = path.join(__dirname, 'typescript.js');
const NETWORK_PATH = path.join(__dirname, 'network.js');
const SEED_PATH = path.resolve(ROOT, '..', 'shared', 'seed', 'esm-script-runner.original.ts');
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const options = { quick: false, warm: true, sweep: true, inprocess: false, json: path.join(__dirname, 'results', 'latest.json') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--no-warm') options.warm = false;
    else if (arg === '--no-sweep') options.sweep = false;
    else if (arg === '--with-inprocess') options.inprocess = true;
    else if (arg === '--sweep-only') options.sweepOnly = true;
    else if (arg === '--json') options.json = path.resolve(argv[++i]);
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: node bench/run.js [--quick] [--no-warm] [--no-sweep | --sweep-only] [--with-inprocess] [--json <path>]\n');
      process.exit(0);
    } else throw new Error(`unknown argument: ${arg}`);
  }
  return options;
}

function plan(quick) {
  return quick
    ? {
        // rounds × runs per round, sequential
        sequential: { trivial: [3, 8], typedTrivial: [3, 8], stdout100k: [2, 6], sleep50: [2, 5] },
        throughput: { rounds: 2, levels: [8, 32], runs: { 8: 16, 32: 32 } },
        rssRuns: 200,
        floodBytes: 1024 * MiB,
        // MiB held by the host; rounds × runs per round
        // (hand-over: the warm contenders and the seed only)
        sweep: { sizes: [50, 1024], trivial: [3, 6], handover: [2, 6], handoverCold: false },
      }
    : {
        sequential: { trivial: [10, 20], typedTrivial: [10, 20], stdout100k: [8, 15], sleep50: [6, 15] },
        throughput: { rounds: 5, levels: [8, 32], runs: { 8: 64, 32: 128 } },
        rssRuns: 1000,
        floodBytes: 1024 * MiB,
        sweep: { sizes: [50, 1024, 2048], trivial: [6, 15], handover: [4, 15], handoverCold: true },
      };
}

// The user modules. `body` is the default export; `check` is what a correct
// run returns (context { n: 21 }).
const WORKLOADS = {
  trivial: {
    label: 'trivial module',
    body: '(c) => c.n * 2',
    context: { n: 21 },
    check: { result: 42 },
  },
  // The trivial module with type annotations (language "auto": the
  // JavaScript parse fails, the types are stripped). Only scriptcage runs
  // TypeScript, so the seed and the bare runtimes sit this one out. Measured
  // in the trivial module's rounds (pairedWith).
  typedTrivial: {
    label: 'trivial module, TypeScript',
    body: '(c: { n: number }): number => c.n * 2',
    context: { n: 21 },
    check: { result: 42 },
    scriptcageOnly: true,
    pairedWith: 'trivial',
  },
  stdout100k: {
    label: '100 KB stdout writer',
    body: '(c) => { process.stdout.write("x".repeat(100 * 1024)); return c.n * 2; }',
    context: { n: 21 },
    check: { result: 42, stdoutLength: 100 * 1024 },
  },
  sleep50: {
    label: '50 ms async sleep',
    body: 'async (c) => { await new Promise((r) => setTimeout(r, 50)); return c.n * 2; }',
    context: { n: 21 },
    check: { result: 42 },
  },
};

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

function versionOf(bin) {
  try {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) return r.stdout.trim();
  } catch {
    // Missing.
  }
  return null;
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // Next.
    }
  }
  return null;
}

function findRuntimes() {
  let node = typeof process.versions.bun === 'string' ? findOnPath('node') : process.execPath;
  // SCRIPTCAGE_BENCH_NODE / SCRIPTCAGE_BENCH_BUN pick the executables (a
  // path that does not run counts as a missing runtime).
  const envNode = process.env.SCRIPTCAGE_BENCH_NODE;
  const envBun = process.env.SCRIPTCAGE_BENCH_BUN;
  if (envNode) node = envNode;
  const bunCandidates = envBun ? [envBun] : [path.join(ROOT, 'node_modules', '.bin', 'bun'), findOnPath('bun')];
  const runtimes = {};
  const nodeVersion = node && versionOf(node);
  runtimes.node = nodeVersion ? { path: node, version: nodeVersion.replace(/^v/, '') } : null;
  for (const candidate of bunCandidates) {
    if (!candidate || !fs.existsSync(candidate)) continue;
    const v = versionOf(candidate);
    if (v) {
      runtimes.bun = { path: candidate, version: v };
      break;
    }
  }
  if (!runtimes.bun) runtimes.bun = null;
  return runtimes;
}

function nproc() {
  const r = spawnSync('nproc', [], { encoding: 'utf8' });
  const n = r.status === 0 ? Number(r.stdout.trim()) : NaN;
  if (Number.isInteger(n) && n > 0) return n;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function clkTck() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = r.status === 0 ? Number(r.stdout.trim()) : NaN;
  return Number.isInteger(n) && n > 0 ? n : 100;
}

function loadavg() {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return os.loadavg().map((x) => x.toFixed(2)).join(' ');
  }
}

// The same check the docs give: the pool exists once configureRunner does.
function scriptcageStatus() {
  try {
    const sc = require(INDEX_PATH);
    return { loaded: true, hasPool: typeof sc.configureRunner === 'function' };
  } catch (e) {
    return { loaded: false, reason: e.message.split('\n')[0] };
  }
}

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------

/** Why a runtime contender cannot run here. */
const missingRuntime = (rt) => `skipped: ${rt} not found${rt === 'bun' ? ' (the `bun` dev dependency: run `npm install`)' : ''}`;

/** Why a scriptcage contender cannot run here, or null. */
function scriptcageSkip(runtimes, runtime, sc, warm, options) {
  if (!runtimes[runtime]) return missingRuntime(runtime);
  if (!sc.loaded) return `skipped: scriptcage does not load (${sc.reason})`;
  if (warm && !sc.hasPool) return 'skipped: warm pool not implemented';
  if (warm && !options.warm) return 'skipped: --no-warm';
  return null;
}

function contenders(runtimes, sc, options) {
  const list = [];
  const missing = missingRuntime;
  const seedOk = fs.existsSync(SEED_PATH);
  list.push({
    id: 'seed-bun',
    label: 'seed original (Bun)',
    kind: 'seed',
    runtime: 'bun',
    skip: !runtimes.bun ? missing('bun') : !seedOk ? `skipped: seed runner not found at ${SEED_PATH}` : null,
  });
  for (const runtime of ['bun', 'node']) {
    for (const warm of [false, true]) {
      for (const profile of ['off', 'standard']) {
        const skip = scriptcageSkip(runtimes, runtime, sc, warm, options);
        list.push({
          id: `sc-${runtime}-${warm ? 'warm' : 'cold'}-${profile}`,
          label: `scriptcage ${runtime === 'bun' ? 'Bun' : 'Node'} ${warm ? 'warm' : 'cold'}, ${profile}`,
          kind: 'scriptcage',
          runtime,
          warm,
          profile,
          skip,
        });
      }
    }
  }
  // The whole-run limits by the sampling supervisor instead of a run cgroup
  // (what an unprivileged host gets), beside the same runs with the cgroup.
  for (const warm of [false, true]) {
    list.push({
      id: `sc-node-${warm ? 'warm' : 'cold'}-standard-sampling`,
      label: `scriptcage Node ${warm ? 'warm' : 'cold'}, standard, limits by sampling (no cgroup)`,
      kind: 'scriptcage',
      runtime: 'node',
      warm,
      profile: 'standard',
      env: { SCRIPTCAGE_CGROUP: 'off' },
      skip: scriptcageSkip(runtimes, 'node', sc, warm, options),
    });
  }
  for (const runtime of ['bun', 'node']) {
    list.push({
      id: `bare-${runtime}`,
      label: `bare \`${runtime} file.mjs\``,
      kind: 'bare',
      runtime,
      skip: runtimes[runtime] ? null : missing(runtime),
    });
  }
  return list;
}

/**
 * The host-size sweep's contenders (held memory is set per size): the seed,
 * scriptcage cold and warm under each runtime with default settings (the
 * `standard` profile, a pool of 2), the bare start, and with
 * --with-inprocess scriptcage on the first round's spawn path.
 */
function sweepContenders(runtimes, sc, options) {
  const list = [];
  const missing = (rt) => `skipped: ${rt} not found`;
  list.push({
    id: 'sw-seed-bun',
    label: 'seed original (Bun)',
    kind: 'seed',
    runtime: 'bun',
    skip: !runtimes.bun ? missing('bun') : !fs.existsSync(SEED_PATH) ? 'skipped: seed runner not found' : null,
  });
  const spawnPaths = options.inprocess ? [false, true] : [false];
  for (const runtime of ['bun', 'node']) {
    for (const inprocess of spawnPaths) {
      for (const warm of [false, true]) {
        const skip = scriptcageSkip(runtimes, runtime, sc, warm, options);
        list.push({
          id: `sw-sc-${runtime}-${warm ? 'warm' : 'cold'}${inprocess ? '-inprocess' : ''}`,
          label: `scriptcage ${runtime === 'bun' ? 'Bun' : 'Node'} ${warm ? 'warm' : 'cold'}${inprocess ? ' (first-round spawn)' : ''}`,
          kind: 'scriptcage',
          runtime,
          warm,
          profile: 'standard',
          inprocess,
          env: inprocess ? { SCRIPTCAGE_SPAWN: 'inprocess' } : undefined,
          skip,
        });
      }
    }
  }
  for (const runtime of ['bun', 'node']) {
    list.push({ id: `sw-bare-${runtime}`, label: `bare \`${runtime} file.mjs\``, kind: 'bare', runtime, skip: runtimes[runtime] ? null : missing(runtime) });
  }
  return list;
}

/** MemAvailable of /proc/meminfo in bytes (NaN when unreadable). */
function memAvailable() {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

// What one sweep worker needs besides the memory it holds: the runtime
// itself and up to two idle pooled processes.
const SWEEP_WORKER_OVERHEAD = 200 * MiB;
// Left for the other users of the machine.
const SWEEP_MEMORY_RESERVE = 4096 * MiB;

/**
 * Splits the sweep's contenders for one host size into groups whose
 * workers fit in memory at the same time: all together when they fit, else
 * one group per runtime (the seed with Bun); null when even that does not fit.
 */
function sweepGroups(list, sizeMiB, available) {
  const need = (group) => group.length * (sizeMiB * MiB + SWEEP_WORKER_OVERHEAD);
  const budget = available - SWEEP_MEMORY_RESERVE;
  if (!Number.isFinite(available) || need(list) <= budget) return { groups: [list], split: false, need: need(list), budget };
  const groups = ['bun', 'node'].map((rt) => list.filter((c) => c.runtime === rt)).filter((g) => g.length);
  if (groups.every((g) => need(g) <= budget)) return { groups, split: true, need: Math.max(...groups.map(need)), budget };
  return { groups: null, split: true, need: Math.max(...groups.map(need)), budget };
}

// ---------------------------------------------------------------------------
// CPU accounting by cgroup
// ---------------------------------------------------------------------------

// A run's processes can end without being reaped by the worker (scriptcage
// kills the run's init once the result is in; the init's own children are
// then never waited for), so `cutime` misses their CPU. Where this process
// may create cgroups (root with a cgroup v1 `cpuacct` hierarchy, or a
// writable cgroup v2 one), each worker gets a cgroup of its own and its
// whole tree is counted there.
const cgroupDirs = new Set();
let cgroupSeq = 0;

function cpuCgroupBase() {
  let own;
  let mounts;
  try {
    own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  } catch {
    return null;
  }
  const candidates = [];
  for (const [, mountPoint, fsType, opts = ''] of mounts) {
    if (fsType === 'cgroup' && opts.split(',').includes('cpuacct')) {
      const line = own.find((l) => l.split(':')[1] && l.split(':')[1].split(',').includes('cpuacct'));
      if (line) candidates.push({ kind: 'v1', dir: path.join(mountPoint, line.split(':')[2]), file: 'cpuacct.usage' });
    } else if (fsType === 'cgroup2') {
      const line = own.find((l) => l.startsWith('0::'));
      if (line) candidates.push({ kind: 'v2', dir: path.join(mountPoint, line.slice(3)), file: 'cpu.stat' });
    }
  }
  for (const c of candidates) {
    const probe = path.join(c.dir, `scriptcage-bench-${process.pid}-probe`);
    try {
      fs.mkdirSync(probe);
      const ok = fs.existsSync(path.join(probe, c.file));
      fs.rmdirSync(probe);
      if (ok) return { kind: c.kind, dir: c.dir };
    } catch {
      // Not writable here: next.
    }
  }
  return null;
}

function makeCgroup(base) {
  if (!base) return null;
  const dir = path.join(base.dir, `scriptcage-bench-${process.pid}-${++cgroupSeq}`);
  try {
    fs.mkdirSync(dir);
  } catch {
    return null;
  }
  cgroupDirs.add(dir);
  return { kind: base.kind, dir };
}

/** Removes a worker's cgroup once its processes are gone (a few tries). */
async function removeCgroup(cg) {
  if (!cg) return;
  for (let i = 0; i < 40; i++) {
    try {
      fs.rmdirSync(cg.dir);
      cgroupDirs.delete(cg.dir);
      return;
    } catch (e) {
      if (e.code === 'ENOENT') return cgroupDirs.delete(cg.dir);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

process.on('exit', () => {
  for (const dir of cgroupDirs) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // Still in use or gone.
    }
  }
});

let CPU_CGROUP_BASE = null;

/** A worker process measuring one contender, driven line by line. */
class Worker {
  constructor(contender, runtimes, tck) {
    this.contender = contender;
    const rt = runtimes[contender.runtime];
    const spec = {
      kind: contender.kind,
      profile: contender.profile,
      warm: contender.warm,
      indexPath: INDEX_PATH,
      seedPath: SEED_PATH,
      runtimePath: rt.path,
      clkTck: tck,
      holdMiB: contender.holdMiB || 0,
      workloads: WORKLOADS,
    };
    this.cgroup = makeCgroup(CPU_CGROUP_BASE);
    if (this.cgroup) spec.cpuCgroup = this.cgroup;
    const args = contender.runtime === 'node' ? ['--expose-gc', WORKER_PATH, JSON.stringify(spec)] : [WORKER_PATH, JSON.stringify(spec)];
    const env = contender.env ? { ...process.env, ...contender.env } : process.env;
    this.child = spawn(rt.path, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.pending = [];
    this.dead = null;
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return; // Stray output; replies are JSON lines.
      }
      const p = this.pending.shift();
      if (p) p.resolve(msg);
    });
    this.child.on('error', (e) => this.die(`spawn failed: ${e.message}`));
    this.child.on('exit', (code, signal) => {
      this.die(`worker exited (${signal || code}) ${this.stderr.trim().slice(-500)}`);
      removeCgroup(this.cgroup);
    });
  }

  die(reason) {
    if (!this.dead) this.dead = reason;
    for (const p of this.pending.splice(0)) p.reject(new Error(this.dead));
  }

  /** Next reply line (the first is the ready line). */
  next(timeoutMs = 600_000) {
    if (this.dead) return Promise.reject(new Error(this.dead));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.push({
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  async request(req, timeoutMs) {
    const reply = this.next(timeoutMs);
    this.child.stdin.write(JSON.stringify(req) + '\n');
    const msg = await reply;
    if (msg.failed) throw new Error(msg.failed);
    return msg;
  }

  async ready() {
    const msg = await this.next(120_000);
    if (msg.fatal) throw new Error(msg.fatal);
    return msg;
  }

  async close() {
    if (this.dead) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    try {
      this.child.stdin.write(JSON.stringify({ op: 'exit' }) + '\n');
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => this.kill(), 10_000);
    await exited;
    clearTimeout(timer);
  }

  kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

function median(values) {
  return percentile([...values].sort((a, b) => a - b), 50);
}

function summariseBatches(batches) {
  const latencies = batches.flatMap((b) => b.latencies).sort((a, b) => a - b);
  const runs = latencies.length;
  const wall = batches.reduce((s, b) => s + b.wallMs, 0);
  // The worker's cgroup when every batch has it, else the worker plus its reaped children.
  const byCgroup = batches.length > 0 && batches.every((b) => Number.isFinite(b.cpuCgroupMs));
  const cpu = batches.reduce((s, b) => s + (byCgroup ? b.cpuCgroupMs : b.cpuSelfMs + b.cpuChildrenMs), 0);
  const cpuChildren = batches.reduce((s, b) => s + b.cpuChildrenMs, 0);
  const perRound = batches.map((b) => (b.latencies.length / b.wallMs) * 1000);
  return {
    runs,
    errors: batches.reduce((s, b) => s + b.errors, 0),
    firstError: (batches.find((b) => b.firstError) || {}).firstError || null,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    mean: runs ? latencies.reduce((s, x) => s + x, 0) / runs : NaN,
    runsPerSecond: median(perRound),
    runsPerSecondPerRound: perRound,
    cpuSecondsPerRun: runs ? cpu / runs / 1000 : NaN,
    cpuSource: byCgroup ? 'cgroup' : 'rusage',
    cpuChildrenSecondsPerRun: runs ? cpuChildren / runs / 1000 : NaN,
    wallMs: wall,
  };
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / MiB).toFixed(1)} MiB` : '—');
const signed = (x, digits = 1) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : '—');

function table(header, rows) {
  const align = header.map((h) => (h.startsWith('>') ? ' ---: ' : ' --- '));
  const names = header.map((h) => h.replace(/^>/, ''));
  return [`| ${names.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

// ---------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------

/** A B C …, then … C B A, so neither end is always first after the other. */
function roundOrder(list, round) {
  return round % 2 === 0 ? list : [...list].reverse();
}

/** Starts a worker for each contender that is not skipped; a failure skips the contender. */
async function startWorkers(list, runtimes, tck, onError) {
  const workers = new Map();
  await Promise.all(
    list
      .filter((c) => !c.skip)
      .map(async (c) => {
        const w = new Worker(c, runtimes, tck);
        try {
          const info = await w.ready();
          c.workerRuntime = info.runtime;
          c.heldMiB = info.heldMiB;
          c.readyRss = info.rss;
          workers.set(c.id, w);
        } catch (e) {
          onError(c, `failed to start: ${e.message.slice(0, 300)}`);
          w.kill();
        }
      }),
  );
  return workers;
}

async function interleaved(list, workers, rounds, makeRequest, results, what, firstRound = 0) {
  for (let round = 0; round < rounds; round++) {
    for (const c of roundOrder(list, firstRound + round)) {
      const w = workers.get(c.id);
      if (!w || c.skip) continue;
      try {
        const reply = await w.request(makeRequest(c));
        (results[c.id] ||= []).push(reply);
      } catch (e) {
        c.skip = `failed during ${what}: ${e.message.slice(0, 300)}`;
        log(`${c.id}: ${c.skip}`);
      }
    }
    log(`${what}: round ${firstRound + round + 1}${firstRound ? '' : `/${rounds}`}`);
  }
}

function countRuns(id, ...phases) {
  let n = 0;
  for (const phase of phases) for (const byId of Object.values(phase)) for (const b of byId[id] || []) n += b.latencies.length;
  return n;
}

// Runs a micro-benchmark script (bench/correlation.js, bench/typescript.js)
// under each runtime: a Markdown section, then one line of JSON.
function runMicro(runtimes, quick, file) {
  const out = {};
  for (const rt of ['node', 'bun']) {
    if (!fs.existsSync(file)) {
      out[rt] = { skip: `skipped: bench/${path.basename(file)} not present` };
      continue;
    }
    if (!runtimes[rt]) {
      out[rt] = { skip: `skipped: ${rt} not found` };
      continue;
    }
    log(`${path.basename(file, '.js')}: ${rt}`);
    const r = spawnSync(runtimes[rt].path, [file, ...(quick ? ['--quick'] : [])], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
      maxBuffer: 16 * MiB,
    });
    const lines = (r.stdout || '').trimEnd().split('\n');
    let json = null;
    try {
      json = JSON.parse(lines[lines.length - 1]);
    } catch {
      // Reported below.
    }
    if (r.status !== 0 || !json) {
      out[rt] = { skip: `failed: exit ${r.status}${r.signal ? ` (${r.signal})` : ''} ${(r.stderr || '').trim().slice(-300)}` };
      continue;
    }
    out[rt] = { markdown: lines.slice(0, -1).join('\n').trim(), json };
  }
  return out;
}

// ---------------------------------------------------------------------------
// Host-size sweep
// ---------------------------------------------------------------------------

/**
 * For each host size: fresh workers holding that many MiB, interleaved
 * trivial batches, then interleaved hand-over batches (all but the bare
 * start); the workers exit before the next size.
 */
async function runSweep(template, runtimes, tck, sweepPlan) {
  const out = { sizes: sweepPlan.sizes, bySize: {}, skipped: {}, split: {}, contenders: {}, raw: {} };
  for (const size of sweepPlan.sizes) {
    const list = template.filter((c) => !c.skip).map((c) => ({ ...c, holdMiB: size }));
    const available = memAvailable();
    const g = sweepGroups(list, size, available);
    if (!g.groups) {
      out.skipped[size] = `skipped: ${list.length} workers holding ${size} MiB need ${mib(g.need)} per runtime group; MemAvailable ${mib(available)} leaves ${mib(g.budget)} after a ${mib(SWEEP_MEMORY_RESERVE)} reserve`;
      log(`sweep ${size} MiB: ${out.skipped[size]}`);
      continue;
    }
    if (g.split) out.split[size] = `run in ${g.groups.length} groups (one per runtime): MemAvailable ${mib(available)} does not hold all ${list.length} workers at once`;
    const raw = { trivial: {}, handover: {} };
    for (const group of g.groups) {
      log(`sweep ${size} MiB: starting ${group.length} workers`);
      const t0 = Date.now();
      const workers = await startWorkers(group, runtimes, tck, (c, why) => {
        c.skip = why;
        log(`sweep ${size} MiB ${c.id}: ${why}`);
      });
      log(`sweep ${size} MiB: workers ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const live = group.filter((c) => workers.has(c.id) && !c.skip);
      const [tr, tn] = sweepPlan.trivial;
      await interleaved(live, workers, tr, () => ({ op: 'batch', workload: 'trivial', iterations: tn, concurrency: 1 }), raw.trivial, `sweep ${size} MiB trivial`);
      const [hr, hn] = sweepPlan.handover;
      await interleaved(
        live.filter((c) => c.kind === 'seed' || (c.kind === 'scriptcage' && (c.warm || sweepPlan.handoverCold))),
        workers,
        hr,
        () => ({ op: 'handover', iterations: hn }),
        raw.handover,
        `sweep ${size} MiB hand-over`,
      );
      await Promise.all([...workers.values()].map((w) => w.close()));
    }
    for (const c of list) {
      (out.contenders[c.id] ||= {})[size] = { skip: c.skip || null, heldMiB: c.heldMiB, readyRss: c.readyRss, workerRuntime: c.workerRuntime };
    }
    out.raw[size] = raw;
    out.bySize[size] = summariseSweep(raw);
  }
  return out;
}

function summariseSweep(raw) {
  const bySize = {};
  for (const [id, batches] of Object.entries(raw.trivial)) {
    const s = summariseBatches(batches);
    const hostCpu = batches.reduce((a, b) => a + b.hostCpuMs, 0);
    const faults = batches.reduce((a, b) => a + b.minorFaults, 0);
    bySize[id] = { ...s, hostCpuMsPerRun: s.runs ? hostCpu / s.runs : NaN, minorFaultsPerRun: s.runs ? faults / s.runs : NaN };
  }
  for (const [id, batches] of Object.entries(raw.handover)) {
    const pick = (key) => batches.flatMap((b) => b[key]).sort((a, b) => a - b);
    const stats = (v) => ({ n: v.length, p50: percentile(v, 50), p90: percentile(v, 90) });
    (bySize[id] ||= {}).handover = {
      callToFirstLine: stats(pick('handoverMs')),
      firstLineToExport: stats(pick('importMs')),
      returnToSettled: stats(pick('returnMs')),
      latency: stats(pick('latencies')),
      clock: (batches.find((b) => b.clock) || {}).clock || null,
      errors: batches.reduce((a, b) => a + b.errors, 0),
      firstError: (batches.find((b) => b.firstError) || {}).firstError || null,
    };
  }
  return bySize;
}

const sizeLabel = (size) => (size >= 1024 && size % 1024 === 0 ? `${size / 1024} GiB` : `${size} MiB`);

function sweepMarkdown(sweep, template) {
  const md = [];
  const sizes = sweep.sizes.filter((s) => sweep.bySize[s]);
  const get = (size, id) => sweep.bySize[size] && sweep.bySize[size][id];
  md.push('### Host-size sweep (trivial module, default settings: `standard` profile, pool of 2)');
  md.push('');
  md.push(
    'Each worker (the host) holds N MiB of filled Buffers for the whole measurement and writes into every 16th MiB after each run. ' +
      'Fresh workers per size; contenders interleaved within each size. *host CPU* is the host process\'s own user+sys time (all its threads, ' +
      '`process.cpuUsage()`), *faults* its minor page faults (`process.resourceUsage()`), both per run, counted until the pool\'s replacements are idle ' +
      '(a refill the host starts belongs to the run), without the bench\'s own polling; *CPU (all)* is the whole tree of the worker ' +
      '(its cgroup, or where none can be made, the worker plus its reaped children).',
  );
  md.push('');
  for (const size of sweep.sizes) {
    if (sweep.skipped[size]) md.push(`${sizeLabel(size)}: ${sweep.skipped[size]}.`, '');
    if (sweep.split[size]) md.push(`${sizeLabel(size)}: ${sweep.split[size]}.`, '');
  }
  // p50 at a glance.
  const pivot = [];
  for (const c of template) {
    if (!sizes.some((s) => get(s, c.id))) continue;
    pivot.push([c.label, ...sizes.map((s) => (get(s, c.id) ? fmt(get(s, c.id).p50) : '—'))]);
  }
  md.push(table(['contender: p50 (ms) with the host holding', ...sizes.map((s) => `>${sizeLabel(s)}`)], pivot));
  md.push('');
  const rows = [];
  for (const size of sizes) {
    const seed = get(size, 'sw-seed-bun');
    for (const c of template) {
      const s = get(size, c.id);
      if (!s || !Number.isFinite(s.p50)) continue;
      const bare = get(size, `sw-bare-${c.runtime}`);
      rows.push([
        sizeLabel(size),
        c.label,
        String(s.runs),
        fmt(s.p50),
        fmt(s.p90),
        seed && c.id !== 'sw-seed-bun' ? `${fmt(s.p50 / seed.p50, 2)}×` : '—',
        bare && c.kind !== 'bare' ? signed(s.p50 - bare.p50) : '—',
        fmt(s.hostCpuMsPerRun, 2),
        fmt(s.minorFaultsPerRun, 0),
        fmt(s.cpuSecondsPerRun * 1000),
        s.errors ? `${s.errors} (${s.firstError})` : '0',
      ]);
    }
  }
  md.push(table(['host holds', 'contender', '>runs', '>p50', '>p90', '>p50 ÷ seed', '>p50 − bare (same runtime)', '>host CPU ms/run', '>host minor faults/run', '>CPU ms/run (all)', 'errors'], rows));
  md.push('');
  md.push('#### Hand-over (ms, sequential, paced to a booted pool)');
  md.push('');
  md.push(
    '*call → first line*: from just before `runEsmScript()` (or the seed\'s `run()`) in the host to the first statement of the user module; ' +
      '*first line → export*: until the default export is called; *return → settled*: from the default export\'s return to the host\'s promise settling. ' +
      'Clock: `process.hrtime.bigint()` (CLOCK_MONOTONIC, shared by all processes) under Node; under Bun, whose `process.hrtime` counts from its own start, ' +
      '`performance.timeOrigin + performance.now()` (the wall clock at process start plus a monotonic clock since).',
  );
  md.push('');
  const hrows = [];
  for (const size of sizes) {
    for (const c of template) {
      const s = get(size, c.id);
      const h = s && s.handover;
      if (!h) continue;
      hrows.push([
        sizeLabel(size),
        c.label,
        String(h.callToFirstLine.n),
        `${fmt(h.callToFirstLine.p50, 2)} / ${fmt(h.callToFirstLine.p90, 2)}`,
        fmt(h.firstLineToExport.p50, 2),
        `${fmt(h.returnToSettled.p50, 2)} / ${fmt(h.returnToSettled.p90, 2)}`,
        `${fmt(h.latency.p50)}`,
        h.clock || '—',
        h.errors ? `${h.errors} (${h.firstError})` : '0',
      ]);
    }
  }
  md.push(table(['host holds', 'contender', '>runs', '>call → first line p50 / p90', '>first line → export p50', '>return → settled p50 / p90', '>latency p50', 'clock', 'errors'], hrows));
  md.push('');
  return md.join('\n');
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

function targets(ctx) {
  const { list, seq, thr, rss, flood, corr, sweep, sweepSizes, rssRuns } = ctx;
  const byId = Object.fromEntries(list.map((c) => [c.id, c]));
  const p50 = (id, workload = 'trivial') => (seq[workload] && seq[workload][id] ? seq[workload][id].p50 : NaN);
  // Why a figure is missing: the first skipped contender it depends on.
  const missing = (deps) => {
    for (const id of deps) {
      const skip = byId[id] && byId[id].skip;
      if (skip === 'skipped: warm pool not implemented') return 'pool not implemented';
      if (skip) return skip.replace(/^skipped: /, '');
    }
    return 'not measured';
  };
  const rows = [];
  const add = (id, scope, value, measured, target, pass, deps) => {
    const ok = Number.isFinite(value);
    rows.push({
      id,
      scope,
      value: ok ? value : null,
      measured: ok ? measured : '—',
      target,
      status: !ok ? `n/a (${missing(deps)})` : pass(value) ? 'met' : 'NOT met',
    });
  };
  const rtName = (rt) => (rt === 'bun' ? 'Bun' : 'Node');

  // Second round (performance.md): T1, T2 and T7 from the host-size sweep
  // (default settings), T3 from the throughput phase.
  const sw = (sweep && sweep.bySize) || {};
  const swGet = (size, id) => (sw[size] && sw[size][id]) || null;
  const swP50 = (size, id) => (swGet(size, id) ? swGet(size, id).p50 : NaN);
  const swMissing = (size, deps) => {
    if (!sweep) return '--no-sweep';
    if (sweep.skipped && sweep.skipped[size]) return sweep.skipped[size].replace(/^skipped: /, '');
    for (const id of deps) {
      const c = sweep.contenders && sweep.contenders[id] && sweep.contenders[id][size];
      if (c && c.skip) return c.skip === 'skipped: warm pool not implemented' ? 'pool not implemented' : c.skip.replace(/^skipped: /, '');
    }
    return 'not measured';
  };
  const addSweep = (id, size, scope, value, measured, target, pass, deps) => {
    const ok = Number.isFinite(value);
    rows.push({ id, scope, value: ok ? value : null, measured: ok ? measured : '—', target, status: !ok ? `n/a (${swMissing(size, deps)})` : pass(value) ? 'met' : 'NOT met' });
  };
  // Without a sweep the rows still appear, as n/a.
  const allSizes = sweep ? sweep.sizes : sweepSizes;
  const targetSizes = allSizes.filter((s) => s <= 1024);
  // T1: warm p50 ≤ seed p50 / 8, small and 1 GiB hosts.
  for (const size of targetSizes) {
    for (const rt of ['node', 'bun']) {
      const id = `sw-sc-${rt}-warm`;
      const warm = swP50(size, id);
      const seed = swP50(size, 'sw-seed-bun');
      const r = warm / seed;
      addSweep('T1', size, `${rtName(rt)} warm, ${sizeLabel(size)} host`, r, `${fmt(warm)} ms vs seed ${fmt(seed)} ms = 1/${fmt(1 / r)}`, '≤ 1/8 of seed p50', (x) => x <= 1 / 8, [id, 'sw-seed-bun']);
    }
  }
  // T2: cold p50 − bare start p50 ≤ 3 ms, 50 MiB and 1 GiB hosts. The bare
  // start is the one from the smallest host of the sweep: the floor of a
  // fresh process (a runtime's own spawn may copy a large host).
  const floorSize = sweep ? sweep.sizes.find((s) => sw[s]) : allSizes[0];
  for (const size of targetSizes) {
    for (const rt of ['node', 'bun']) {
      const id = `sw-sc-${rt}-cold`;
      const cold = swP50(size, id);
      const bare = swP50(floorSize, `sw-bare-${rt}`);
      const d = cold - bare;
      addSweep(
        'T2',
        size,
        `${rtName(rt)} cold, ${sizeLabel(size)} host`,
        d,
        `${signed(d)} ms (${fmt(cold)} − bare ${fmt(bare)} @ ${sizeLabel(floorSize)})`,
        '≤ 3 ms over bare start',
        (x) => x <= 3,
        [id, `sw-bare-${rt}`],
      );
    }
  }
  // T3: default settings (warm, standard) at c8 and c32: runs/s ≥ 0.95× and
  // CPU/run ≤ 1.05× the bare start's at the same concurrency.
  for (const rt of ['node', 'bun']) {
    const id = `sc-${rt}-warm-standard`;
    const bare = `bare-${rt}`;
    for (const level of [8, 32]) {
      const t = (x) => (thr[level] && thr[level][x]) || null;
      const rps = t(id) && t(bare) ? t(id).runsPerSecond / t(bare).runsPerSecond : NaN;
      add('T3', `${rtName(rt)} warm, standard @ c${level}: runs/s`, rps, `${fmt(t(id) && t(id).runsPerSecond)} ÷ ${fmt(t(bare) && t(bare).runsPerSecond)} runs/s = ${fmt(rps, 2)}×`, '≥ 0.95× bare', (x) => x >= 0.95, [id, bare]);
      const cpu = t(id) && t(bare) ? t(id).cpuSecondsPerRun / t(bare).cpuSecondsPerRun : NaN;
      add(
        'T3',
        `${rtName(rt)} warm, standard @ c${level}: CPU/run`,
        cpu,
        `${fmt(t(id) && t(id).cpuSecondsPerRun * 1000)} ÷ ${fmt(t(bare) && t(bare).cpuSecondsPerRun * 1000)} ms = ${fmt(cpu, 2)}×`,
        '≤ 1.05× bare',
        (x) => x <= 1.05,
        [id, bare],
      );
    }
  }
  // T7: host CPU per run ≤ 1 ms, every host size.
  for (const size of allSizes) {
    for (const rt of ['node', 'bun']) {
      for (const mode of ['cold', 'warm']) {
        const id = `sw-sc-${rt}-${mode}`;
        const s = swGet(size, id);
        const v = s ? s.hostCpuMsPerRun : NaN;
        addSweep('T7', size, `${rtName(rt)} ${mode}, ${sizeLabel(size)} host`, v, `${fmt(v, 2)} ms (${fmt(s && s.minorFaultsPerRun, 0)} minor faults)`, '≤ 1 ms host CPU/run', (x) => x <= 1, [id]);
      }
    }
  }
  // T4: standard − off p50.
  for (const rt of ['node', 'bun']) {
    for (const [mode, limit] of [['cold', 5], ['warm', 1]]) {
      const on = `sc-${rt}-${mode}-standard`;
      const off = `sc-${rt}-${mode}-off`;
      const d = p50(on) - p50(off);
      add('T4', `${rtName(rt)} ${mode}`, d, `${signed(d)} ms (${fmt(p50(on))} − ${fmt(p50(off))})`, `≤ ${limit} ms`, (x) => x <= limit, [on, off]);
    }
  }
  // T5: host RSS growth.
  for (const c of list) {
    if (c.kind !== 'scriptcage') continue;
    const r = rss[c.id];
    const g = r ? r.growth : NaN;
    add('T5', `${c.label}: after ${r && r.runs ? r.runs : rssRuns} runs`, g, mib(g), '≤ 50 MiB', (x) => x <= 50 * MiB, [c.id]);
  }
  for (const c of list) {
    if (c.kind !== 'scriptcage') continue;
    const g = flood[c.id] ? flood[c.id].peakGrowth : NaN;
    add('T5', `${c.label}: 1 GiB flood (peak)`, g, mib(g), '≤ 20 MiB', (x) => x <= 20 * MiB, [c.id]);
  }
  // T6: correlation ids (bench/correlation.js decides met / not met).
  for (const rt of ['node', 'bun']) {
    const j = corr[rt] && corr[rt].json;
    if (!j) {
      const why = corr[rt] ? corr[rt].skip.replace(/^skipped: /, '') : 'not run';
      rows.push({ id: 'T6', scope: rtName(rt), value: null, measured: '—', target: '', status: `n/a (${why})` });
      continue;
    }
    const pass = (ok) => (ok ? 'met' : 'NOT met');
    rows.push({ id: 'T6', scope: `${rtName(rt)} mint`, value: j.mintRatio, measured: `${fmt(j.mintRatio, 2)}× randomUUID`, target: `≥ ${j.target.mintRatio}×`, status: pass(j.met.mint) });
    rows.push({
      id: 'T6',
      scope: `${rtName(rt)} pass-through`,
      value: j.callsPerSecond.passThrough,
      measured: `${fmt(j.callsPerSecond.passThrough / 1e6, 2)} M/s`,
      target: '≥ 3 M/s',
      status: pass(j.met.passThrough),
    });
  }
  for (const r of rows) r.reason = r.status === 'NOT met' ? '—' : '';
  return rows;
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const p = plan(options.quick);
  const started = Date.now();
  const runtimes = findRuntimes();
  const cores = nproc();
  const tck = clkTck();
  CPU_CGROUP_BASE = cpuCgroupBase();
  log(CPU_CGROUP_BASE ? `CPU per run: one ${CPU_CGROUP_BASE.kind} cgroup per worker under ${CPU_CGROUP_BASE.dir}` : 'CPU per run: no writable cgroup; worker + reaped children (misses unreaped processes)');
  const sc = scriptcageStatus();
  const loadStart = loadavg();
  const list = contenders(runtimes, sc, options);
  if (options.sweepOnly) for (const c of list) c.skip = 'skipped: --sweep-only';
  for (const c of list) if (c.skip) log(`${c.id}: ${c.skip}`);

  const phases = {};
  let phaseStart = Date.now();
  const phaseDone = (name) => {
    phases[name] = (Date.now() - phaseStart) / 1000;
    log(`${name}: ${phases[name].toFixed(1)} s`);
    phaseStart = Date.now();
  };

  log(`starting ${list.filter((c) => !c.skip).length} workers`);
  const workers = await startWorkers(list, runtimes, tck, (c, why) => {
    c.skip = why;
    log(`${c.id}: ${why}`);
  });
  phaseDone('start');
  const live = () => list.filter((c) => !c.skip && workers.has(c.id));

  // 1. Sequential latency, every workload.
  const seqRaw = {};
  // A workload `pairedWith` another is measured in the same rounds, batch
  // after batch (alternating which goes first), so that its figures can be
  // set beside the other's on a machine whose load drifts.
  const who = (name) => (WORKLOADS[name].scriptcageOnly ? live().filter((c) => c.kind === 'scriptcage') : live());
  for (const [name, [rounds]] of Object.entries(p.sequential)) {
    if (WORKLOADS[name].pairedWith) continue;
    const group = [name, ...Object.keys(p.sequential).filter((n) => WORKLOADS[n].pairedWith === name)];
    for (const n of group) seqRaw[n] = {};
    for (let round = 0; round < rounds; round++) {
      for (const n of round % 2 ? [...group].reverse() : group) {
        const request = () => ({ op: 'batch', workload: n, iterations: p.sequential[n][1], concurrency: 1 });
        await interleaved(who(n), workers, 1, request, seqRaw[n], `sequential ${n}`, round);
      }
    }
  }
  phaseDone('sequential');
  // 2. Throughput of the trivial module at concurrency 8 and 32 (1 is the sequential phase).
  const thrRaw = {};
  for (const level of p.throughput.levels) {
    thrRaw[level] = {};
    await interleaved(
      live(),
      workers,
      p.throughput.rounds,
      () => ({ op: 'batch', workload: 'trivial', iterations: p.throughput.runs[level], concurrency: level }),
      thrRaw[level],
      `throughput c${level}`,
    );
  }
  phaseDone('throughput');
  // 3. Host RSS growth of each warmed-up worker over all its runs so far,
  //    topped up with trivial runs at concurrency 8 to reach the planned count.
  const rss = {};
  for (const c of live()) {
    if (c.kind === 'bare') continue;
    const done = countRuns(c.id, seqRaw, thrRaw);
    const topUp = Math.max(0, p.rssRuns - done);
    log(`rss: ${c.id} (${done} runs so far, ${topUp} more)`);
    try {
      const r = await workers.get(c.id).request({ op: 'rss', workload: 'trivial', topUp, concurrency: 8 });
      rss[c.id] = { ...r, growth: r.rssAfter - r.rssBefore };
    } catch (e) {
      rss[c.id] = { error: e.message.slice(0, 300) };
    }
  }
  await Promise.all([...workers.values()].map((w) => w.close()));
  phaseDone('rss');

  // 4. 1 GiB output flood, each scriptcage contender in a fresh worker
  //    (started together, flooded one at a time).
  const flood = {};
  const floodSkip = {};
  const floodList = [];
  for (const c of list) {
    if (c.kind === 'seed') {
      floodSkip[c.id] =
        'skipped: the seed reads all output into host memory (`new Response(stdout).text()`), so a 1 GiB flood would need over 1 GiB (2 GiB as a UTF-16 string) of host RAM and would measure only that';
    } else if (c.kind === 'scriptcage' && !c.skip) {
      floodList.push({ ...c });
    }
  }
  const floodWorkers = await startWorkers(floodList, runtimes, tck, (c, why) => {
    flood[c.id] = { error: why };
  });
  for (const c of floodList) {
    const w = floodWorkers.get(c.id);
    if (!w) continue;
    log(`flood: ${c.id}`);
    try {
      const r = await w.request({ op: 'flood', bytes: p.floodBytes }, 300_000);
      flood[c.id] = { ...r, peakGrowth: r.rssPeak - r.rssBefore };
      await w.close();
    } catch (e) {
      flood[c.id] = { error: e.message.slice(0, 300) };
      w.kill();
    }
  }
  phaseDone('flood');

  // 5. Host-size sweep: the host holding 50 MiB, 1 GiB (and 2 GiB).
  const sweepTemplate = options.sweep ? sweepContenders(runtimes, sc, options) : [];
  for (const c of sweepTemplate) if (c.skip) log(`sweep ${c.id}: ${c.skip}`);
  const sweep = options.sweep ? await runSweep(sweepTemplate, runtimes, tck, p.sweep) : null;
  phaseDone('sweep');

  // 6. correlationId() vs crypto.randomUUID(), via bench/correlation.js.
  const skippedMicro = { node: { skip: 'skipped: --sweep-only' }, bun: { skip: 'skipped: --sweep-only' } };
  const corr = options.sweepOnly ? skippedMicro : runMicro(runtimes, options.quick, CORRELATION_PATH);
  phaseDone('correlation');

  // 7. Preparing TypeScript (strip, detection) per 10 KiB, via bench/typescript.js.
  const tsPrep = options.sweepOnly ? skippedMicro : runMicro(runtimes, options.quick, TYPESCRIPT_PATH);
  phaseDone('typescript');

  // 8. The network broker's costs (bench/network.js, root only: a network lab).
  const netBench = options.sweepOnly ? skippedMicro : runMicro(runtimes, options.quick, NETWORK_PATH);
  phaseDone('network');

  // ---- summaries
  const seq = {};
  for (const [name, byId] of Object.entries(seqRaw)) {
    seq[name] = {};
    for (const [id, batches] of Object.entries(byId)) seq[name][id] = summariseBatches(batches);
  }
  const thr = {};
  for (const [level, byId] of Object.entries(thrRaw)) {
    thr[level] = {};
    for (const [id, batches] of Object.entries(byId)) thr[level][id] = summariseBatches(batches);
  }
  const durationS = (Date.now() - started) / 1000;
  const targetRows = targets({ list, seq, thr, rss, flood, corr, sweep, sweepSizes: p.sweep.sizes, rssRuns: p.rssRuns });

  // ---- Markdown
  const md = [];
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  md.push(`## scriptcage benchmark — ${date}${options.quick ? ' (quick)' : ''}`);
  md.push('');
  md.push(
    `nproc ${cores} · node ${runtimes.node ? runtimes.node.version : 'missing'} · bun ${runtimes.bun ? runtimes.bun.version : 'missing'} · ` +
      `${os.type()} ${os.release()} · load average ${loadStart} → ${loadavg()} · duration ${durationS.toFixed(0)} s · ` +
      `CPU per run ${CPU_CGROUP_BASE ? `from a ${CPU_CGROUP_BASE.kind} cgroup per worker` : 'from the worker and its reaped children (no writable cgroup: processes killed unreaped are missed)'}`,
  );
  md.push('');
  md.push('Contenders run in interleaved rounds (A B … then … B A); latency percentiles pool all rounds, runs/s is the median of the rounds. The machine is shared: compare within this run, not across runs.');
  md.push('');
  md.push('### Contenders');
  md.push('');
  md.push(table(['contender', 'status'], list.map((c) => [c.label, c.skip || `measured (${c.workerRuntime})`])));
  md.push('');
  md.push('### Latency, sequential (ms)');
  md.push('');
  const seqRows = [];
  for (const [name, byId] of Object.entries(seq)) {
    for (const c of list) {
      const s = byId[c.id];
      if (!s) continue;
      seqRows.push([
        WORKLOADS[name].label,
        c.label,
        String(s.runs),
        fmt(s.p50),
        fmt(s.p90),
        fmt(s.p99),
        fmt(s.cpuSecondsPerRun * 1000, 1),
        s.errors ? `${s.errors} (${s.firstError})` : '0',
      ]);
    }
  }
  md.push(table(['workload', 'contender', '>runs', '>p50', '>p90', '>p99', '>CPU ms/run', 'errors'], seqRows));
  md.push('');
  md.push('### Throughput, trivial module (runs/s)');
  md.push('');
  const thrRows = [];
  for (const c of list) {
    const c1 = seq.trivial && seq.trivial[c.id];
    if (!c1) continue;
    const cells = [c.label, fmt(c1.runsPerSecond)];
    for (const level of p.throughput.levels) cells.push(thr[level][c.id] ? fmt(thr[level][c.id].runsPerSecond) : '—');
    const t8 = thr[8] && thr[8][c.id];
    cells.push(t8 ? fmt(t8.cpuSecondsPerRun * 1000) : '—');
    const errs = p.throughput.levels.reduce((s, l) => s + (thr[l][c.id] ? thr[l][c.id].errors : 0), 0);
    cells.push(String(errs));
    thrRows.push(cells);
  }
  md.push(table(['contender', '>c1', ...p.throughput.levels.map((l) => `>c${l}`), '>CPU ms/run @ c8', '>errors'], thrRows));
  md.push('');
  md.push(`### Host memory (worker RSS)`);
  md.push('');
  const memRows = [];
  for (const c of list) {
    if (c.kind === 'bare') continue;
    if (c.skip && !rss[c.id] && !flood[c.id] && !floodSkip[c.id]) continue;
    const r = rss[c.id];
    const f = flood[c.id];
    const growth = r ? (r.error ? `failed: ${r.error}` : `${mib(r.growth)} over ${r.runs} runs (${mib(r.rssBefore)} → ${mib(r.rssAfter)})`) : '—';
    let floodCell = '—';
    let outcome = '';
    if (floodSkip[c.id]) floodCell = 'skipped (see below)';
    else if (f && f.error) floodCell = `failed: ${f.error}`;
    else if (f) {
      floodCell = `${mib(f.peakGrowth)} (peak ${mib(f.rssPeak)}, ${f.peakSource})`;
      const o = f.outcome;
      const kept = o.stdoutBytes === null ? '?' : mib(o.stdoutBytes);
      outcome = o.outputTruncated
        ? `stopped at the output budget after ${fmt(f.wallMs, 0)} ms, ${kept} kept`
        : `${fmt(f.wallMs, 0)} ms, not truncated, ${kept} kept${o.error ? `; error: ${o.error.slice(0, 80)}` : ''}`;
    }
    const idle = r && !r.error ? `${r.descendants} (${mib(r.descendantsRss)})` : '—';
    memRows.push([c.label, growth, idle, floodCell, outcome]);
  }
  md.push(table(['contender', 'host RSS growth, warm-up → end (after GC)', 'idle child processes at end (their RSS)', 'peak host RSS growth during 1 GiB flood', 'flood run'], memRows));
  md.push('');
  for (const c of list) if (floodSkip[c.id]) md.push(`1 GiB flood, ${c.label}: ${floodSkip[c.id]}.`, '');
  md.push(`The flood module writes 1 GiB to stdout in 1 MiB chunks; scriptcage stops it at its output budget (\`maxOutputBytes\`).`, '');
  if (sweep) md.push(sweepMarkdown(sweep, sweepTemplate), '');
  md.push('### correlationId() vs crypto.randomUUID() (bench/correlation.js)');
  md.push('');
  for (const rt of ['node', 'bun']) {
    const c = corr[rt];
    if (c.skip) md.push(`${rt}: ${c.skip}`, '');
    else md.push(c.markdown.replace(/^###/m, '####'), '');
  }
  md.push('### Network broker: added cost per cold run, per connection, bulk throughput (bench/network.js)');
  md.push('');
  for (const rt of ['node', 'bun']) {
    const c = netBench[rt];
    if (c.skip) md.push(`${rt}: ${c.skip}`, '');
    else md.push(c.markdown.replace(/^###/m, '####'), '');
  }
  md.push('### TypeScript: a typed run beside a JavaScript one, and the strip cost (bench/typescript.js)');
  md.push('');
  const tsRows = [];
  for (const c of list) {
    const js = seq.trivial && seq.trivial[c.id];
    const ts = seq.typedTrivial && seq.typedTrivial[c.id];
    if (!js || !ts) continue;
    tsRows.push([c.label, fmt(js.p50), fmt(ts.p50), fmt(ts.p50 - js.p50)]);
  }
  md.push(table(['contender', '>JavaScript p50', '>TypeScript p50', '>difference'], tsRows));
  md.push('');
  md.push('Sequential trivial module, `(c) => c.n * 2` as JavaScript and `(c: { n: number }): number => c.n * 2` as TypeScript (`language` `"auto"`), ms.', '');
  for (const rt of ['node', 'bun']) {
    const c = tsPrep[rt];
    if (c.skip) md.push(`${rt}: ${c.skip}`, '');
    else md.push(c.markdown.replace(/^###/m, '####'), '');
  }
  md.push('### Targets (performance.md)');
  md.push('');
  md.push(
    'T1, T2, T3 and T7 are the second round\'s (performance.md, *Second round*): T1, T2 and T7 from the host-size sweep, T3 from the throughput phase. ' +
      'A target not met leaves its reason to the maintainers (—).',
  );
  md.push('');
  md.push(table(['id', 'scope', 'measured', 'target', 'status', 'reason'], targetRows.map((r) => [r.id, r.scope, r.measured, r.target, r.status, r.reason])));
  md.push('');
  if (options.quick) md.push(`Quick mode: fewer rounds and runs (p99 rests on few samples); RSS growth after ≥ ${p.rssRuns} runs instead of ≥ 1000.`, '');
  process.stdout.write(md.join('\n') + '\n');

  // ---- JSON
  const json = {
    date,
    quick: options.quick,
    durationSeconds: durationS,
    nproc: cores,
    clkTck: tck,
    cpuAccounting: CPU_CGROUP_BASE ? `cgroup ${CPU_CGROUP_BASE.kind}` : 'rusage',
    loadavg: { start: loadStart, end: loadavg() },
    os: `${os.type()} ${os.release()}`,
    runtimes,
    scriptcage: sc,
    plan: p,
    phaseSeconds: phases,
    contenders: list.map(({ id, label, kind, runtime, warm, profile, skip, workerRuntime }) => ({ id, label, kind, runtime, warm, profile, skip, workerRuntime })),
    sequential: seq,
    throughput: thr,
    rssGrowth: rss,
    flood,
    floodSkipped: floodSkip,
    correlation: Object.fromEntries(Object.entries(corr).map(([k, v]) => [k, v.json || v])),
    sweep: sweep
      ? {
          sizesMiB: sweep.sizes,
          contenders: sweepTemplate.map(({ id, label, kind, runtime, warm, profile, inprocess, skip }) => ({ id, label, kind, runtime, warm, profile, inprocess: !!inprocess, skip })),
          workers: sweep.contenders,
          skipped: sweep.skipped,
          split: sweep.split,
          bySize: sweep.bySize,
        }
      : null,
    typescript: Object.fromEntries(Object.entries(tsPrep).map(([k, v]) => [k, v.json || v])),
    network: Object.fromEntries(Object.entries(netBench).map(([k, v]) => [k, v.json || v])),
    targets: targetRows,
    raw: { sequential: seqRaw, throughput: thrRaw, sweep: sweep ? sweep.raw : null },
  };
  fs.mkdirSync(path.dirname(options.json), { recursive: true });
  fs.writeFileSync(options.json, JSON.stringify(json, null, 2) + '\n');
  log(`done in ${durationS.toFixed(1)} s; JSON in ${path.relative(process.cwd(), options.json) || options.json}`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
