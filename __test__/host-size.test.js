'use strict';

// A run must not copy the host's address space (docs/spawn.md): the host's
// own CPU time and page faults per run are the same whether it holds a few
// MiB or 1 GiB. The bound is loose on purpose: it catches a copy (which
// costs the 1 GiB host tens of milliseconds of CPU and thousands of faults
// per run), not a timing. Run with SCRIPTCAGE_SPAWN=inprocess to see it
// fail on the first round's start.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const probe = path.join(__dirname, 'helpers', 'host-size-probe.js');

function measure(mib) {
  const r = spawnSync(process.execPath, [probe], {
    env: { ...process.env, MIB: String(mib), RUNS: '8' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `probe host (${mib} MiB) failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('a host holding 1 GiB pays no more per run than a small host', { timeout: 240_000 }, () => {
  const small = measure(0);
  const big = measure(1024);
  const msg = `small ${JSON.stringify(small)} big ${JSON.stringify(big)}`;
  assert.equal(big.held, 1024, msg);
  // A copy of 1 GiB of page tables costs ≥ 20 ms of host CPU per run here.
  assert.ok(big.cpuMsPerRun < small.cpuMsPerRun * 2 + 8, `host CPU per run grew with its size: ${msg}`);
  // Copy-on-write after a fork: every 16th MiB touched once per run is
  // 64 faults at least, a whole-heap copy far more; a shared address
  // space adds none.
  assert.ok(big.faultsPerRun < small.faultsPerRun * 2 + 2000, `host page faults per run grew with its size: ${msg}`);
});
