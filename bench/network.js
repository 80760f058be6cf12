'use strict';

// Network broker micro-benchmark (docs/network.md): run as root, it starts
// a network lab (__test__/helpers/netlab.js) and measures, inside it,
//   - the added cost of a cold ESM run: `standard` (brokered) against the
//     same policy with denyLinkLocalAndMetadata: false (the host network),
//   - the per-connection overhead: N TCP connects inside one run,
//   - bulk download throughput (GET /bulk?mib=N) through a brokered socket.
// Prints one JSON line (the lab's host program prints it; this file is both).
//
//   node bench/network.js [--quick]

const path = require('node:path');
const { median } = require('./micro-common.js');

const QUICK = process.argv.includes('--quick');

async function inLab() {
  const sc = require(path.join(process.env.LAB_ROOT, 'js', 'index.js'));
  const E = process.env;
  const runs = QUICK ? 15 : 40;
  const conns = QUICK ? 100 : 400;
  const mib = QUICK ? 64 : 256;
  const brokered = { profile: 'standard' };
  const host = { profile: 'standard', network: { denyLinkLocalAndMetadata: false } };
  const cold = { brokered: [], host: [] };
  for (let i = 0; i < runs; i++) {
    for (const [k, p] of [['brokered', brokered], ['host', host]]) {
      sc.configureSandbox(p);
      const t = process.hrtime.bigint();
      const r = await sc.runEsmScript({ script: 'export default () => 1', timeoutMs: 30000 });
      cold[k].push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.result !== 1) throw new Error(`run failed: ${r.error}`);
    }
  }
  const probe = `import net from 'node:net';
    const one = () => new Promise((res, rej) => { const t = process.hrtime.bigint(); const s = net.connect(${E.LAB_HTTP_PORT}, '${E.LAB_PUBLIC}');
      s.on('connect', () => { const d = Number(process.hrtime.bigint() - t) / 1e3; s.destroy(); res(d); }); s.on('error', rej); });
    export default async () => { const v = []; for (let i = 0; i < ${conns}; i++) v.push(await one());
      v.sort((a, b) => a - b); const t = process.hrtime.bigint();
      const r = await fetch('http://${E.LAB_PUBLIC}/bulk?mib=${mib}'); let n = 0; for await (const c of r.body) n += c.length;
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      return { connectMedianUs: v[v.length >> 1], mibPerS: n / 1048576 / s }; };`;
  const inner = {};
  for (const [k, p] of [['brokered', brokered], ['host', host]]) {
    sc.configureSandbox(p);
    const r = await sc.runEsmScript({ script: probe, timeoutMs: 120000 });
    if (r.error) throw new Error(`${k}: ${r.error}`);
    inner[k] = r.result;
  }
  console.log(JSON.stringify({
    runs,
    coldMedianMs: { brokered: median(cold.brokered), host: median(cold.host) },
    addedColdMs: median(cold.brokered) - median(cold.host),
    connectMedianUs: { brokered: inner.brokered.connectMedianUs, host: inner.host.connectMedianUs },
    perConnectionOverheadUs: inner.brokered.connectMedianUs - inner.host.connectMedianUs,
    bulkMiBPerS: { brokered: inner.brokered.mibPerS, host: inner.host.mibPerS },
    throughputRatio: inner.brokered.mibPerS / inner.host.mibPerS,
  }));
}

async function main() {
  if (process.env.LAB_ROOT) return inLab();
  const { labSkip, runInLab } = require('../__test__/helpers/netlab.js');
  const skip = labSkip();
  if (skip) {
    console.log(JSON.stringify({ skipped: skip }));
    return;
  }
  const r = await runInLab({ runtime: 'node', hostScript: __filename, args: QUICK ? ['--quick'] : [], timeoutMs: 600000 });
  console.log(JSON.stringify(r.result));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
