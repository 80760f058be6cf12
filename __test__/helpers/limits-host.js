'use strict';

// Child host for limits.test.js (not a test file). Runs every case of
// CASES (a JSON file: [{ name, kind: 'esm' | 'shell', policy, options }])
// in this runtime, cold or through the warm pool (RUNNER=cold|warm), and
// prints { caps, results, leftCgroups } as JSON: the results by case name,
// and the run cgroups of this host still present once its runs are over.

const fs = require('node:fs');
const path = require('node:path');
const scriptcage = require(path.join(__dirname, '..', '..', 'js', 'index.js'));

const cases = JSON.parse(fs.readFileSync(process.env.CASES, 'utf8'));
const warm = process.env.RUNNER === 'warm';

/** Run cgroups of this process that still exist (cgroup v1 mounts under /sys/fs/cgroup). */
function leftCgroups() {
  const left = [];
  let own = [];
  try {
    own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    return left;
  }
  for (const ctrl of ['memory', 'cpuacct', 'pids']) {
    const line = own.find((l) => l.split(':')[1] && l.split(':')[1].split(',').includes(ctrl));
    if (!line) continue;
    const rel = line.split(':').slice(2).join(':');
    const base = path.join('/sys/fs/cgroup', ctrl, rel, `scriptcage-${process.pid}`);
    let runs = [];
    try {
      runs = fs.readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory());
    } catch {
      continue;
    }
    for (const r of runs) left.push(path.join(base, r.name));
  }
  return left;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  scriptcage.configureRunner({ warmProcesses: warm ? 1 : 0 });
  const results = {};
  for (const c of cases) {
    scriptcage.configureSandbox({ profile: 'standard', ...c.policy });
    if (warm && c.kind === 'esm') {
      // A pooled process for this policy, booted before the run.
      await scriptcage.runEsmScript({ script: 'export default 0', timeoutMs: 30000 });
      for (let i = 0; i < 100 && scriptcage.runnerStats().idle === 0; i++) await sleep(50);
    }
    const started = Date.now();
    const r =
      c.kind === 'shell'
        ? await scriptcage.runShellScript({ timeoutMs: 30000, ...c.options })
        : await scriptcage.runEsmScript({ context: {}, timeoutMs: 30000, ...c.options });
    r.elapsedMs = Date.now() - started;
    results[c.name] = r;
  }
  scriptcage.configureSandbox({ profile: 'standard' });
  const healthy = await scriptcage.runEsmScript({ script: 'export default 6 * 7', timeoutMs: 30000 });
  scriptcage.configureRunner({ warmProcesses: 0 });
  let left = leftCgroups();
  for (let i = 0; i < 60 && left.length > 0; i++) {
    await sleep(100);
    left = leftCgroups();
  }
  process.stdout.write(
    JSON.stringify({ caps: scriptcage.sandboxCapabilities(), results, healthy: healthy.result, leftCgroups: left }),
  );
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
