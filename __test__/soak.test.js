'use strict';

// A bounded soak (bench/soak.js runs the long one): mixed runs — results,
// throws, timeouts, output floods past the budget, syntax errors — at
// concurrency 32 and 256 in the current host runtime (Node under
// `node --test`, Bun under `bun test`), with the warm pool on. Every run
// must give the right outcome (no lost result under load); afterwards the
// host's descriptors, threads and staging directories are back to their
// baseline and its RSS grew by at most 50 MiB (performance.md, T5).
// SCRIPTCAGE_SOAK_RUNS sets the number of runs per concurrency level.
//
// Runs under `node --test` and `bun test`.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { scriptcage: sc, tempDir, removeTree, restoreDefaultPolicy } = require('./helpers/common.js');
const { soak, fdCount, threadCount, rssMiB, stagingIn, settle } = require(path.join(__dirname, '..', 'bench', 'soak-core.js'));

const RUNS = Number(process.env.SCRIPTCAGE_SOAK_RUNS || 500);
const MiB = 1024 * 1024;
let tmp;
let savedTmp;
let base;

async function quiet() {
  await sc.closeRunner();
  await settle(() => sc.runnerStats().stagingDirs === 0, 20000);
  await sc.closeRunner();
}

before(async () => {
  tmp = tempDir('soak', 0o755);
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  // A small output budget: floods are cut quickly, on 2 cores too.
  sc.configureSandbox({ profile: 'standard', resources: { maxOutputBytes: 256 * 1024 } });
  sc.configureRunner({ warmProcesses: 2 });
  // Warm-up: the runtime's own lazily created threads and buffers.
  const w = await soak(sc, { count: 40, concurrency: 8 });
  assert.deepEqual(w.wrong, []);
  await quiet();
  if (typeof globalThis.gc === 'function') globalThis.gc();
  base = { fds: fdCount(), threads: threadCount(), rss: rssMiB() };
});

after(async () => {
  await quiet();
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  restoreDefaultPolicy();
  sc.configureRunner({ warmProcesses: 2 });
  removeTree(tmp);
});

for (const concurrency of [32, 256]) {
  test(`soak: ${RUNS} mixed runs at concurrency ${concurrency}, every outcome right`, { timeout: 600000 }, async () => {
    const r = await soak(sc, { count: RUNS, concurrency });
    assert.deepEqual(r.wrong.filter(Boolean), [], `${r.wrong.length} wrong outcomes of ${RUNS}`);
    assert.equal(r.wrong.length, 0);
  });
}

test('soak: descriptors, threads and staging directories are back to baseline; RSS growth ≤ 50 MiB', { timeout: 120000 }, async () => {
  await quiet();
  assert.equal(sc.runnerStats().stagingDirs, 0, 'staging directories tracked by the host');
  assert.equal(stagingIn(tmp), 0, 'staging directories left in TMPDIR');
  // tokio's blocking threads retire after 10 s idle.
  const okThreads = await settle(() => threadCount() <= base.threads, 15000);
  const okFds = await settle(() => fdCount() <= base.fds, 5000);
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const growth = rssMiB() - base.rss;
  assert.ok(okFds, `descriptors: ${fdCount()} now, ${base.fds} before`);
  assert.ok(okThreads, `threads: ${threadCount()} now, ${base.threads} before`);
  assert.ok(growth <= 50, `RSS grew by ${growth.toFixed(1)} MiB after ${2 * RUNS} runs (from ${base.rss.toFixed(1)} MiB)`);
  void MiB;
});
