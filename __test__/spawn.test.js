'use strict';

// The spawn path (docs/spawn.md): the run's init is the helper executable,
// not a copy of the host; the result comes back on the runner's "done"
// without dropping anything the script printed; scripts that leave work
// pending keep the seed's semantics (the run waits for the exit). Every
// case runs cold (no pool) and warm (a pooled process), under the runtime
// that runs the test file (Node or Bun).

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const sc = require(path.join(__dirname, '..', 'js', 'index.js'));

const RUN = { timeoutMs: 20000 };

async function waitIdle() {
  const deadline = Date.now() + 30000;
  while (sc.runnerStats().idle < 1) {
    if (Date.now() > deadline) throw new Error(`the pool did not warm up: ${JSON.stringify(sc.runnerStats())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `script` cold or in a pooled process (checked through idlePids). */
async function run(mode, script, extra = {}) {
  if (mode === 'cold') {
    sc.configureRunner({ warmProcesses: 0 });
    return sc.runEsmScript({ script, ...RUN, ...extra });
  }
  sc.configureRunner({ warmProcesses: 1 });
  // The first run of a key starts the pool; wait until a process is idle.
  await sc.runEsmScript({ script: 'export default 0', ...RUN });
  await waitIdle();
  const [pid] = sc.runnerStats().idlePids;
  const r = await sc.runEsmScript({ script, ...RUN, ...extra });
  assert.ok(!sc.runnerStats().idlePids.includes(pid), 'the run did not take the pooled process');
  return r;
}

after(() => {
  sc.configureRunner({ warmProcesses: 2 });
});

for (const mode of ['cold', 'warm']) {
  describe(`return on the report (${mode})`, () => {
    test('everything printed before the result is in it, on both streams', async () => {
      const r = await run(
        mode,
        'export default () => { process.stdout.write("o".repeat(1 << 20)); process.stderr.write("e".repeat(300000)); return 7; }',
      );
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.result, 7);
      assert.equal(r.stdout, 'o'.repeat(1 << 20));
      assert.equal(r.stderr, 'e'.repeat(300000));
    });

    test('a pending timer that prints later is still waited for', async () => {
      const r = await run(mode, 'export default () => { setTimeout(() => console.log("late"), 150); return 1; }');
      assert.equal(r.result, 1);
      assert.equal(r.stdout, 'late');
    });

    test('output written by a timer after the result is kept', async () => {
      const r = await run(mode, 'export default async () => { setTimeout(() => process.stdout.write("y".repeat(200000)), 20); return 2; }');
      assert.equal(r.result, 2);
      assert.equal(r.stdout.length, 200000);
    });

    test("the script's exit listener still runs and prints", async () => {
      const r = await run(mode, 'export default () => { process.on("exit", () => console.log("bye")); return 3; }');
      assert.equal(r.result, 3);
      assert.equal(r.stdout, 'bye');
    });

    test("the script's beforeExit listener may schedule more work", async () => {
      const r = await run(
        mode,
        'export default () => { let n = 0; process.on("beforeExit", () => { if (n++ < 2) setTimeout(() => console.log("again" + n), 5); }); return 4; }',
      );
      assert.equal(r.result, 4);
      assert.equal(r.stdout, 'again1\nagain2');
    });

    test('a result and its output survive 40 back-to-back runs', async () => {
      sc.configureRunner({ warmProcesses: mode === 'warm' ? 2 : 0 });
      for (let i = 0; i < 40; i++) {
        const r = await sc.runEsmScript({ script: 'export default (c) => { console.log("n" + c.n); return c.n * 2; }', context: { n: i }, ...RUN });
        assert.equal(r.error, undefined, `run ${i}: ${r.error}`);
        assert.equal(r.result, i * 2);
        assert.equal(r.stdout, `n${i}`);
      }
    });
  });
}

describe('the init is the helper executable', () => {
  for (const profile of ['standard', 'off']) {
    test(`[${profile}] pid 1 / the parent runs scriptcage-helper with an empty environment`, async () => {
      sc.configureSandbox({ profile });
      try {
        sc.configureRunner({ warmProcesses: 0 });
        const r = await sc.runEsmScript({
          script: `import fs from "node:fs";
export default () => {
  const pid = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[1];
  const read = (f) => { try { return fs.readFileSync("/proc/" + pid + "/" + f, "latin1"); } catch (e) { return "unreadable:" + e.code; } };
  return { cmdline: read("cmdline").split("\\0")[0], environ: read("environ") };
}`,
          ...RUN,
        });
        assert.equal(r.error, undefined, r.error);
        assert.match(r.result.cmdline, /scriptcage-helper\.linux-(x64|arm64)-gnu$/);
        // Either empty, or unreadable to the script: never the host's.
        assert.ok(r.result.environ === '' || r.result.environ.startsWith('unreadable:'), r.result.environ);
      } finally {
        sc.configureSandbox({ profile: 'standard' });
      }
    });
  }

  test('a missing helper is a clear error naming its path, not a crash', () => {
    const code = `require(${JSON.stringify(path.join(__dirname, '..', 'js', 'index.js'))})
      .runEsmScript({ script: 'export default 1', timeoutMs: 5000 })
      .then((r) => { console.log(JSON.stringify(r)); process.exit(3); }, (e) => { console.log(String(e.message)); process.exit(0); });`;
    const r = spawnSync(process.execPath, ['-e', code], {
      env: { ...process.env, SCRIPTCAGE_HELPER: '/nonexistent/scriptcage-helper' },
      encoding: 'utf8',
      timeout: 30000,
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /sandbox helper \/nonexistent\/scriptcage-helper is missing/);
  });
});

describe('the pool follows demand', () => {
  test('a burst that finds the pool empty raises its size above warmProcesses; closeRunner resets it', async () => {
    sc.closeRunner();
    sc.configureRunner({ warmProcesses: 1 });
    try {
      await sc.runEsmScript({ script: 'export default 0', ...RUN });
      await waitIdle();
      assert.equal(sc.runnerStats().burst, 0);
      const burst = await Promise.all(
        Array.from({ length: 6 }, (_, i) => sc.runEsmScript({ script: 'export default (c) => c.i', context: { i }, ...RUN })),
      );
      assert.deepEqual(
        burst.map((r) => r.result),
        [0, 1, 2, 3, 4, 5],
      );
      const grown = sc.runnerStats().burst;
      assert.ok(grown >= 1, `burst after 5 misses: ${JSON.stringify(sc.runnerStats())}`);
      // The extra processes boot in the background (one per core at a time).
      const deadline = Date.now() + 60000;
      while (sc.runnerStats().idle < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(sc.runnerStats().idle >= 2, `the pool did not grow: ${JSON.stringify(sc.runnerStats())}`);
      assert.ok(sc.runnerStats().idle <= 1 + grown, `more idle than the target: ${JSON.stringify(sc.runnerStats())}`);
      sc.closeRunner();
      assert.equal(sc.runnerStats().burst, 0);
      assert.equal(sc.runnerStats().idle, 0);
    } finally {
      sc.configureRunner({ warmProcesses: 2 });
    }
  });
});
