'use strict';

// Whole-run limits and per-run usage (issue "Whole-run resource limits,
// per-run usage, and a syscall filter"): memoryBytes and cpuSeconds bound
// every process of a run plus what it keeps in its tmpfs mounts, the error
// names the limit, the report names the mechanism, and every result carries
// `usage`. Each combination runs in a child host (helpers/limits-host.js) of
// the current runtime: with the host's own mechanism (a cgroup per run where
// the host can make one, as root here) and with the cgroup turned off
// (SCRIPTCAGE_CGROUP=off: the sampling supervisor), cold and warm.
//
// Runs under `node --test` and `bun test`, as root and (through
// unprivileged.test.js) as an unprivileged user, where no cgroup can be
// made and both combinations use the sampling supervisor.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
const scriptcage = require(path.join(__dirname, '..', 'js', 'index.js'));
const caps = scriptcage.sandboxCapabilities();
const skip = caps.platform !== 'linux' || !caps.userNamespaces ? 'needs Linux with user namespaces' : false;

// A child of the run that holds `mib` MiB of touched memory for a while.
const holder = (mib) =>
  `spawn(process.execPath, ['-e', 'const a = []; for (let i = 0; i < ${mib / 10}; i++) a.push(Buffer.alloc(10 * 1024 * 1024, 1)); setTimeout(() => {}, 8000)'], { stdio: 'ignore' })`;

const CASES = [
  {
    name: 'memory across children',
    kind: 'esm',
    policy: { resources: { memoryBytes: LIMIT } },
    options: {
      script: `import { spawn } from 'node:child_process';
export default async () => {
  const kids = [];
  for (let i = 0; i < 6; i++) kids.push(new Promise((r) => ${holder(100)}.on('exit', r)));
  await Promise.all(kids);
  return 'all children held 100 MiB';
};`,
    },
  },
  {
    name: 'CPU across children',
    kind: 'esm',
    policy: { resources: { cpuSeconds: 1 } },
    options: {
      script: `import { spawn } from 'node:child_process';
export default async () => {
  const kids = [];
  for (let i = 0; i < 4; i++) kids.push(new Promise((r) => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }).on('exit', r)));
  await Promise.all(kids);
  return 'the children ended';
};`,
    },
  },
  {
    name: 'tmpfs plus heap',
    kind: 'esm',
    policy: { resources: { memoryBytes: LIMIT } },
    options: {
      script: `import fs from 'node:fs';
export default async () => {
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const fd = fs.openSync('/tmp/fill', 'w');
  for (let i = 0; i < 150; i++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  const heap = [];
  for (let i = 0; i < 15; i++) heap.push(Buffer.alloc(10 * 1024 * 1024, 1));
  await new Promise((r) => setTimeout(r, 1000));
  return 'tmpfs 150 MiB and heap 150 MiB';
};`,
    },
  },
  {
    name: 'shell tmpfs files',
    kind: 'shell',
    policy: { resources: { memoryBytes: LIMIT } },
    options: { script: 'head -c 150000000 /dev/zero > /tmp/a; head -c 150000000 /dev/zero > ./b; sleep 1; echo wrote both' },
  },
  {
    name: 'shell CPU across children',
    kind: 'shell',
    policy: { resources: { cpuSeconds: 1 } },
    options: { script: 'for i in 1 2 3 4; do (while :; do :; done) & done; wait; echo ended' },
  },
  {
    name: 'fork bomb',
    kind: 'shell',
    policy: {},
    options: { script: 'f() { f | f & }; f; sleep 1; echo survived', timeoutMs: 60000 },
  },
  {
    name: 'usage: 200 ms of CPU',
    kind: 'esm',
    policy: {},
    options: {
      script: `export default () => {
  const start = process.cpuUsage();
  let used = 0;
  while (used < 200000) { const u = process.cpuUsage(start); used = u.user + u.system; }
  return used;
};`,
    },
  },
  {
    name: 'usage: 100 MiB',
    kind: 'esm',
    policy: {},
    // Held for a while: the sampling supervisor reads memory every 50 ms.
    options: {
      script: `export default async () => {
  const b = Buffer.alloc(100 * 1024 * 1024, 1);
  await new Promise((r) => setTimeout(r, 300));
  return b.length;
};`,
    },
  },
  {
    name: 'usage: shell processes',
    kind: 'shell',
    policy: {},
    options: { script: 'sleep 0.6 & sleep 0.6 & wait; echo done' },
  },
  {
    name: 'usage: nothing ran',
    kind: 'esm',
    policy: {},
    options: { script: 'enum E { A }\nexport default E.A', language: 'ts' },
  },
];

function runHost(env) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-limits-')), 'cases.json');
  fs.writeFileSync(file, JSON.stringify(CASES));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'helpers', 'limits-host.js')], {
      env: { ...process.env, CASES: file, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`limits host exited with ${code}:\n${err.slice(-3000)}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`limits host printed no JSON: ${e.message}\n${out.slice(-2000)}\n${err.slice(-2000)}`));
      }
    });
  });
}

const notes = (r) => JSON.stringify((r.sandbox && r.sandbox.notes) || []);

function assertUsageShape(r, name) {
  assert.ok(r.usage && typeof r.usage === 'object', `${name}: no usage`);
  assert.deepEqual(Object.keys(r.usage), ['wallMs', 'cpuMs', 'peakMemoryBytes', 'processes'], name);
  for (const [k, v] of Object.entries(r.usage)) {
    assert.ok(Number.isFinite(v) && v >= 0, `${name}: usage.${k} = ${v}`);
  }
}

const MECHANISMS = [
  { label: "the host's mechanism", env: {} },
  { label: 'the sampling supervisor (cgroup off)', env: { SCRIPTCAGE_CGROUP: 'off' } },
];

for (const mech of MECHANISMS) {
  for (const runner of ['cold', 'warm']) {
    describe(`whole-run limits and usage: ${mech.label}, ${runner}`, { skip }, () => {
      let host;
      const result = async (name) => {
        if (!host) host = await runHost({ ...mech.env, RUNNER: runner });
        const r = host.results[name];
        assert.ok(r, `no result for ${name}`);
        return r;
      };
      const expected = () => (mech.env.SCRIPTCAGE_CGROUP === 'off' || host.caps.runLimits === 'sampling' ? 'sampling' : 'cgroup-v1');

      test('the capabilities and the report name the mechanism', { timeout: 240000 }, async () => {
        const r = await result('memory across children');
        assert.equal(host.caps.runLimits, expected());
        if (expected() === 'sampling') {
          assert.equal(typeof host.caps.runLimitsReason, 'string');
          assert.match(notes(r), /sampling its processes and tmpfs/);
        } else {
          assert.equal(host.caps.runLimitsReason, null);
          assert.match(notes(r), /cgroup v1 per run/);
        }
      });

      test('memory held by many children ends the run with the memory limit named', { timeout: 240000 }, async () => {
        const r = await result('memory across children');
        assert.equal(r.result, undefined, `the run completed: ${JSON.stringify(r.result)}`);
        assert.equal(r.timedOut, false);
        assert.match(String(r.error), /memory limit \(268435456 bytes\) for the whole run/);
        assert.ok(r.usage.peakMemoryBytes > 100 * MiB, `peak ${r.usage.peakMemoryBytes}`);
        assert.ok(r.usage.processes >= 2, `processes ${r.usage.processes}`);
      });

      test('CPU burnt by many children ends the run with the CPU limit named', { timeout: 240000 }, async () => {
        const r = await result('CPU across children');
        assert.equal(r.result, undefined);
        assert.equal(r.timedOut, false);
        assert.match(String(r.error), /CPU time limit \(1 s\) for the whole run/);
        // Ended near the budget, not by the per-process rlimits (each child
        // would be allowed 1 s of its own: 4 s in all).
        assert.ok(r.usage.cpuMs >= 900 && r.usage.cpuMs < 2500, `cpuMs ${r.usage.cpuMs}`);
      });

      test('tmpfs contents and heap count together', { timeout: 240000 }, async () => {
        const r = await result('tmpfs plus heap');
        assert.equal(r.result, undefined, `the run completed: ${JSON.stringify(r.result)}`);
        assert.match(String(r.error), /memory limit/);
      });

      test('shell: files in the private tmpfs mounts count as memory', { timeout: 240000 }, async () => {
        const r = await result('shell tmpfs files');
        assert.equal(r.exitCode, 137, r.stderr);
        assert.match(r.stderr, /memory limit \(268435456 bytes\) for the whole run/);
      });

      test('shell: CPU of background children ends the run', { timeout: 240000 }, async () => {
        const r = await result('shell CPU across children');
        assert.equal(r.exitCode, 137, r.stderr);
        assert.match(r.stderr, /CPU time limit \(1 s\) for the whole run/);
        assert.ok(!r.stdout.includes('ended'));
      });

      test('a fork bomb hits the process limit and the host stays healthy', { timeout: 240000 }, async () => {
        const r = await result('fork bomb');
        assert.equal(r.timedOut, false);
        assert.match(r.stderr, /fork/i);
        assert.equal(host.healthy, 42, 'the host ran a script after all cases');
      });

      test('usage: a 200 ms CPU loop reports about 200 ms of CPU', { timeout: 240000 }, async () => {
        const r = await result('usage: 200 ms of CPU');
        assert.ok(r.result >= 200000, JSON.stringify(r));
        assertUsageShape(r, 'cpu loop');
        assert.ok(r.usage.cpuMs >= 190 && r.usage.cpuMs < 3000, `cpuMs ${r.usage.cpuMs}`);
        assert.ok(r.usage.wallMs >= r.usage.cpuMs * 0.5, `wallMs ${r.usage.wallMs}`);
      });

      test('usage: a 100 MiB allocation shows in the peak', { timeout: 240000 }, async () => {
        const r = await result('usage: 100 MiB');
        assert.equal(r.result, 100 * MiB, JSON.stringify(r).slice(0, 300));
        assert.ok(r.usage.peakMemoryBytes >= 100 * MiB && r.usage.peakMemoryBytes < 1024 * MiB, `peak ${r.usage.peakMemoryBytes}`);
      });

      test('usage: a shell run counts its processes', { timeout: 240000 }, async () => {
        const r = await result('usage: shell processes');
        assert.equal(r.stdout, 'done');
        assertUsageShape(r, 'shell');
        assert.ok(r.usage.processes >= 3, `processes ${r.usage.processes}`);
        assert.ok(r.usage.wallMs >= 550, `wallMs ${r.usage.wallMs}`);
      });

      test('usage: all zero when nothing ran', { timeout: 240000 }, async () => {
        const r = await result('usage: nothing ran');
        assert.match(String(r.error), /enum/);
        assert.deepEqual(r.usage, { wallMs: 0, cpuMs: 0, peakMemoryBytes: 0, processes: 0 });
      });

      test('no run cgroup is left once the runs are over', { timeout: 240000 }, async () => {
        await result('fork bomb');
        assert.deepEqual(host.leftCgroups, []);
      });
    });
  }
}
