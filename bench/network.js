'use strict';

// Network broker micro-benchmark (docs/network.md): run as root, it starts
// a network lab (__test__/helpers/netlab.js) and measures, inside it,
//   - the added cost of a cold ESM run: `standard` (brokered) against the
//     same policy with denyLinkLocalAndMetadata: false (the host network),
//   - the per-connection overhead: N TCP connects inside one run,
//   - bulk download throughput (GET /bulk?mib=N) through a brokered socket.
// Output: a Markdown table, then one line of JSON (the last line) for
// bench/run.js. The file is also the lab's host program (LAB_ROOT set).
//
//   node bench/network.js [--quick]      (or bun bench/network.js)

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
    console.error(`skipped: ${skip}`);
    process.exit(1);
  }
  const runtime = process.versions.bun ? 'bun' : 'node';
  const r = await runInLab({ runtime, hostScript: __filename, args: QUICK ? ['--quick'] : [], timeoutMs: 600000 });
  const j = r.result;
  const f = (v, d = 1) => v.toFixed(d);
  console.log(`### Network broker (${runtime} host, bench/network.js)\n`);
  console.log('| row | brokered (`standard`) | host network | difference | target |');
  console.log('|---|---:|---:|---:|---|');
  console.log(`| cold ESM run, median of ${j.runs} | ${f(j.coldMedianMs.brokered)} ms | ${f(j.coldMedianMs.host)} ms | ${f(j.addedColdMs, 2)} ms | ≤ 0.5 ms |`);
  console.log(`| TCP connect inside a run, median | ${f(j.connectMedianUs.brokered, 0)} µs | ${f(j.connectMedianUs.host, 0)} µs | ${f(j.perConnectionOverheadUs, 0)} µs | ≤ 100 µs |`);
  console.log(`| bulk download | ${f(j.bulkMiBPerS.brokered)} MiB/s | ${f(j.bulkMiBPerS.host)} MiB/s | ${f(j.throughputRatio * 100, 0)} % | ≥ 90 % |`);
  console.log('');
  console.log(JSON.stringify(j));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
