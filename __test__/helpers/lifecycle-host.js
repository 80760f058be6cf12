'use strict';

// A host for __test__/lifecycle.test.js: `node|bun lifecycle-host.js <mode> <tag>`
// with TMPDIR set by the test. `tag` only marks this process and its runs'
// inits (copies of this process) on the command line. Prints one line per
// step on stdout.
//
// Modes:
//   inflight   start a long run, print "started" once it is staged, wait
//   handler    like inflight, with the host's own SIGTERM listener: print
//              "handled", run a quick script, print its result, exit 0
//   throw      like inflight, then throw from a timer (uncaught)
//   exit       one quick run with the pool on, then process.exit() at once
//              (the pool's replacements are still booting)
//   quick      one quick run (the "next host"), print its result
//   cold       the same with the pool off (it stages nothing in the background)

const path = require('node:path');
const sc = require(path.join(__dirname, '..', '..', 'js', 'index.js'));

const mode = process.argv[2];

async function startLongRun() {
  const long = sc.runEsmScript({
    script: 'export default () => new Promise((r) => setTimeout(r, 120000));',
    timeoutMs: 300000,
  });
  long.catch(() => {});
  while (sc.runnerStats().stagingDirs === 0) await new Promise((r) => setTimeout(r, 20));
  // Give the init time to be spawned: "started" means the run is live.
  await new Promise((r) => setTimeout(r, 300));
  console.log('started');
}

async function quick() {
  const r = await sc.runEsmScript({ script: 'export default (c) => c.n * 2', context: { n: 21 }, timeoutMs: 60000 });
  console.log(`result ${r.result}`);
}

(async () => {
  if (mode === 'inflight') {
    sc.configureRunner({ warmProcesses: 0 });
    await startLongRun();
    setInterval(() => {}, 1000);
  } else if (mode === 'handler') {
    sc.configureRunner({ warmProcesses: 0 });
    process.on('SIGTERM', async () => {
      console.log('handled');
      await quick();
      process.exit(0);
    });
    await startLongRun();
    setInterval(() => {}, 1000);
  } else if (mode === 'throw') {
    sc.configureRunner({ warmProcesses: 0 });
    await startLongRun();
    setTimeout(() => {
      throw new Error('uncaught on purpose');
    }, 10);
    setInterval(() => {}, 1000);
  } else if (mode === 'exit') {
    sc.configureRunner({ warmProcesses: 2 });
    await quick();
    await sc.runEsmScript({ script: 'export default 1', timeoutMs: 60000 });
    process.exit(0);
  } else if (mode === 'quick') {
    await quick();
  } else if (mode === 'cold') {
    sc.configureRunner({ warmProcesses: 0 });
    await quick();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
})();
