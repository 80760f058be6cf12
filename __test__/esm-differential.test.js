'use strict';

// Differential test of the ESM runner against the seed.
//
// One Bun process (helpers/seed-driver.mjs) runs every case of
// corpus/esm-cases.js through the seed's `defaultEsmScriptRunner` and
// streams the results back; each case is then run through scriptcage in
// this runtime with the sandbox profile `off`, again with `standard`, and
// (when the package has a warm pool) once more with `standard` and the pool
// off, and each result is compared with the seed's field by field (same keys
// in the same order, `undefined` distinguished from absent), after the
// normalisation documented in helpers/normalise.js. `sandbox` and
// `outputTruncated` are scriptcage additions and are not compared.
//
// The seed always runs in Bun. When this file runs under Bun, scriptcage
// spawns the same Bun and every field must match exactly. Under Node,
// scriptcage spawns Node, so text produced by the engine itself (parser
// and JSON.stringify messages, stack frames) cannot match; the corpus marks
// those fields per case (`engine`), and they are compared by presence and
// type only. Stacks not marked are compared by their header line (the
// frames themselves are engine-formatted). Cases whose outcome itself is
// engine specific (`engine: 'all'`) are skipped under Node, with the
// reason.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const os = require('node:os');
const { spawn } = require('node:child_process');

const { cases, optionsOf, FORGED_ID } = require('./corpus/esm-cases.js');
const { IS_BUN, RUNTIME, findBun, seedUnavailableReason, scriptcage } = require('./helpers/env.js');
const { settle } = require('./helpers/outcome.js');
const { normaliseOutcome, stackHeader } = require('./helpers/normalise.js');

const IGNORED = new Set(['sandbox', 'usage', 'outputTruncated']);
const unavailable = seedUnavailableReason();

// ------------------------------------------------------------ seed driver

let driver;

function startDriver() {
  const child = spawn(findBun(), [path.join(__dirname, 'helpers', 'seed-driver.mjs')], {
    cwd: os.tmpdir(),
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const results = new Map();
  const waiters = new Map();
  let stderr = '';
  let failure = null;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const fail = (err) => {
    failure = err;
    for (const [i, w] of waiters) if (!results.has(i)) w.reject(err);
  };
  // Lines are split on the LF byte here rather than with node:readline:
  // Bun's readline also breaks lines at U+2028/U+2029, which JSON.stringify
  // leaves unescaped in strings.
  let pending = [];
  child.stdout.on('data', (chunk) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      const line = Buffer.concat(pending).toString('utf8');
      pending = [];
      start = nl + 1;
      if (!line.trim()) continue;
      let parsed;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        fail(new Error(`seed driver printed a line that is not JSON (${err.message}): ${line.slice(0, 200)}`));
        continue;
      }
      results.set(parsed.index, parsed.outcome);
      const w = waiters.get(parsed.index);
      if (w) w.resolve(parsed.outcome);
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  });
  child.on('error', fail);
  child.on('close', (code, signal) => {
    if (results.size < cases.length) {
      fail(new Error(`seed driver exited (code ${code}, signal ${signal}) after ${results.size}/${cases.length} cases:\n${stderr}`));
    }
  });
  return {
    child,
    get(index) {
      if (results.has(index)) return Promise.resolve(results.get(index));
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiters.set(index, { resolve, reject }));
    },
  };
}

function seedOutcome(index) {
  if (!driver) driver = startDriver();
  return driver.get(index);
}

after(() => {
  if (driver && driver.child.exitCode === null && driver.child.signalCode === null) driver.child.kill('SIGKILL');
});

// ------------------------------------------------------------ comparison

function describe(rec) {
  // Long strings are shortened so that a diff of large outputs stays legible.
  const s = JSON.stringify(rec, (k, v) =>
    typeof v === 'string' && v.length > 400 ? `${v.slice(0, 300)}…(${v.length} chars)…${v.slice(-60)}` : v,
  );
  return s.length > 3000 ? `${s.slice(0, 3000)}… (${s.length} chars)` : s;
}

function compare(seedRec, ourRec, c, modeLabel) {
  const seed = normaliseOutcome(seedRec, [FORGED_ID]);
  const ours = normaliseOutcome(ourRec, [FORGED_ID]);
  const crossEngine = !IS_BUN;
  const engineFields = new Set(Array.isArray(c.engine) ? c.engine : []);
  const where = `case "${c.name}" [${modeLabel}, ${RUNTIME}]`;
  const context = `\n  seed:   ${describe(seed)}\n  theirs: ${describe(ours)}`;

  assert.equal(ours.kind, seed.kind, `${where}: settled differently${context}`);
  if (seed.kind === 'rejected') {
    assert.equal(ours.isTypeError, seed.isTypeError, `${where}: rejection class${context}`);
    if (!(crossEngine && engineFields.has('rejectionMessage'))) {
      assert.equal(ours.message, seed.message, `${where}: rejection message${context}`);
    }
    return;
  }
  if (seed.kind !== 'resolved') {
    assert.deepEqual(ours, seed, `${where}${context}`);
    return;
  }
  const ourKeys = ours.keys.filter((k) => !IGNORED.has(k));
  assert.deepEqual(ourKeys, seed.keys, `${where}: result keys (and their order)${context}`);
  for (const k of seed.keys) {
    const a = ours.values[k];
    const b = seed.values[k];
    if (crossEngine && engineFields.has(k)) {
      // Engine-generated text: only whether a value is there.
      continue;
    }
    if (crossEngine && k === 'stack') {
      assert.equal('undefined' in a, 'undefined' in b, `${where}: stack presence${context}`);
      if ('value' in b) {
        assert.equal(stackHeader(a.value), stackHeader(b.value), `${where}: stack header${context}`);
      }
      continue;
    }
    // Text comparison first: assert.deepEqual recurses and overflows the
    // stack on deeply nested results; it is only used to show a diff.
    if (JSON.stringify(a) !== JSON.stringify(b)) assert.deepEqual(a, b, `${where}: field "${k}"${context}`);
  }
}

// ------------------------------------------------------------- the tests

// Modes: each sandbox profile with the default runner settings, and, when
// the package has a warm pool of pre-started processes, `standard` with the
// pool switched off. Cases run mode by mode (not profile after profile per
// case): changing the policy retires pre-started processes, so alternating
// would only ever exercise cold starts.
const sc = scriptcage();
const HAS_POOL = typeof sc.configureRunner === 'function';
const MODES = [
  { label: 'off', profile: 'off', pool: null },
  { label: 'standard', profile: 'standard', pool: null },
];
if (HAS_POOL) MODES.push({ label: 'standard, pool off', profile: 'standard', pool: 0 });

const defaultPool = HAS_POOL ? sc.runnerStats().warmProcesses : null;
let current = null;
function enter(mode) {
  if (current === mode) return;
  sc.configureSandbox({ profile: mode.profile });
  if (HAS_POOL) sc.configureRunner({ warmProcesses: mode.pool === null ? defaultPool : mode.pool });
  current = mode;
}
after(() => {
  // Restore the defaults for whatever runs next in this process.
  sc.configureSandbox({ profile: 'standard' });
  if (HAS_POOL) sc.configureRunner({ warmProcesses: defaultPool });
  current = null;
});

const tally = new Map(MODES.map((m) => [m.label, { passed: 0, failed: 0, skipped: 0 }]));

for (const mode of MODES) {
  cases.forEach((c, index) => {
    test(`esm differential [${mode.label}] #${index}: ${c.name}`, { timeout: 180000 }, async (t) => {
      const n = tally.get(mode.label);
      if (unavailable) {
        n.skipped++;
        t.skip(`cannot compare with the seed: ${unavailable}`);
        return;
      }
      if (c.engine === 'all' && !IS_BUN) {
        n.skipped++;
        t.skip(`engine-specific outcome (${c.why}); compared only when scriptcage runs under Bun`);
        return;
      }
      if (c.cold && HAS_POOL && mode.pool !== 0) {
        n.skipped++;
        t.skip(`compared with the pool off only: ${c.cold}`);
        return;
      }
      let ok = false;
      try {
        const seed = await seedOutcome(index);
        enter(mode);
        const ours = await settle(() => sc.runEsmScript(optionsOf(c)));
        compare(seed, ours, c, mode.label);
        ok = true;
      } finally {
        if (ok) n.passed++;
        else n.failed++;
      }
    });
  });
}

test('esm differential: corpus summary', (t) => {
  const parts = [...tally].map(([label, n]) => `[${label}] ${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped`);
  const line = `esm differential corpus (${RUNTIME}): ${cases.length} cases; ${parts.join('; ')}`;
  if (typeof t.diagnostic === 'function') t.diagnostic(line);
  else console.log(line);
  assert.ok(cases.length >= 45, 'the corpus has at least 45 cases');
  if (unavailable) {
    t.skip(`cannot compare with the seed: ${unavailable}`);
    return;
  }
  for (const [label, n] of tally) {
    assert.equal(n.passed + n.failed + n.skipped, cases.length, `every case ran in mode ${label}`);
  }
});
