'use strict';

// The long soak: `node bench/soak.js [runs] [concurrency…]` (or under bun).
// Mixed runs (results, throws, timeouts, floods, syntax errors) through the
// package, each checked, at each concurrency; prints one JSON line per
// level and a summary of the host's descriptors, threads, staging
// directories and RSS against the baseline. The bounded version is
// __test__/soak.test.js.

const path = require('node:path');
const sc = require(path.join(__dirname, '..', 'js', 'index.js'));
const core = require('./soak-core.js');

const runs = Number(process.argv[2] || 2000);
const levels = process.argv.slice(3).map(Number);
if (levels.length === 0) levels.push(32, 256);

async function quiet() {
  await sc.closeRunner();
  await core.settle(() => sc.runnerStats().stagingDirs === 0, 20000);
}

(async () => {
  const host = process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.versions.node}`;
  await core.soak(sc, { count: 40, concurrency: 8 });
  await quiet();
  const base = { fds: core.fdCount(), threads: core.threadCount(), rssMiB: +core.rssMiB().toFixed(1) };
  let wrong = 0;
  for (const concurrency of levels) {
    const r = await core.soak(sc, { count: runs, concurrency });
    wrong += r.wrong.length;
    console.log(JSON.stringify({ host, runs, concurrency, wrong: r.wrong.length, firstWrong: r.wrong[0] || null, ms: r.ms, rssMiB: +core.rssMiB().toFixed(1) }));
  }
  await quiet();
  await core.settle(() => core.threadCount() <= base.threads, 15000);
  const end = { fds: core.fdCount(), threads: core.threadCount(), rssMiB: +core.rssMiB().toFixed(1), stagingDirs: sc.runnerStats().stagingDirs };
  console.log(JSON.stringify({ host, base, end, rssGrowthMiB: +(end.rssMiB - base.rssMiB).toFixed(1), wrong }));
  process.exitCode = wrong === 0 && end.stagingDirs === 0 && end.fds <= base.fds ? 0 : 1;
})();
