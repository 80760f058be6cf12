'use strict';

// Child host for host-size.test.js (not a test file): holds `MIB` MiB of
// touched Buffers, then runs `RUNS` cold trivial modules and prints the host
// process's own CPU time and minor page faults per run as JSON.

const path = require('node:path');
const scriptcage = require(path.join(__dirname, '..', '..', 'js', 'index.js'));

const MIB = Number(process.env.MIB || 0);
const RUNS = Number(process.env.RUNS || 8);

async function main() {
  const hold = [];
  for (let i = 0; i < MIB; i++) hold.push(Buffer.alloc(1 << 20, 1));
  scriptcage.configureRunner({ warmProcesses: 0 });
  // One run first: the addon's threads, the runtime's page cache and the
  // staging directory are warm before counting.
  await scriptcage.runEsmScript({ script: 'export default 1', timeoutMs: 30000 });
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < RUNS; i++) {
    const r = await scriptcage.runEsmScript({
      script: 'export default (c) => c.n * 2',
      context: { n: i },
      timeoutMs: 30000,
    });
    if (r.result !== i * 2) throw new Error(`wrong result: ${JSON.stringify(r)}`);
    // The host writes into what it holds between runs, as a busy backend
    // does: after a copy of the address space each write is a fault.
    for (let j = 0; j < hold.length; j += 16) hold[j][i] = i;
  }
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  process.stdout.write(
    JSON.stringify({
      mib: MIB,
      cpuMsPerRun: (cpu.user + cpu.system) / 1000 / RUNS,
      faultsPerRun: faults / RUNS,
      held: hold.length,
    }),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
