#!/usr/bin/env node
'use strict';

// Cost of preparing a TypeScript user script (src/esm/typescript.rs), under
// whichever runtime runs this file: `node bench/typescript.js` or
// `bun bench/typescript.js`. No process is started: this is the work a run
// adds before it stages `user.mjs`.
//
// Each contender prepares a ~10 KB module through the same native call a
// run uses internally (`prepareModuleSourceNative(script, language)`), and
// the figure is scaled to exactly 10 KiB of source. Contenders run in
// interleaved rounds; each figure is the median of the rounds. Output: a
// Markdown table, then one line of JSON (the last line) for bench/run.js.
//
// Options: --rounds N (default 9), --ms N per contender per round (default
// 150), --quick (5 rounds of 80 ms).

const native = require('../index.js');
const { parseMicroArgs: parseArgs, median } = require('./micro-common.js');

const KiB = 1024;

/** A realistic typed health-check module of at least `bytes` bytes. */
function typedModule(bytes) {
  const parts = [
    'import type { HealthCheckContext } from "@checkstack/healthcheck";\n',
    'import { defineHealthCheck } from "@checkstack/healthcheck";\n',
  ];
  let i = 0;
  while (parts.join('').length < bytes - 200) {
    parts.push(
      `interface Probe${i}<T extends object = Record<string, unknown>> { url: string; expect?: number; meta: T }\n` +
        `type Outcome${i} = { ok: boolean; status: number | null; ms: number };\n` +
        `async function probe${i}(p: Probe${i}, timeoutMs: number = 2000): Promise<Outcome${i}> {\n` +
        `  const started: number = Date.now();\n` +
        `  const limits = { timeoutMs, retries: 1 } as const satisfies { timeoutMs: number; retries: number };\n` +
        `  const status = (p.expect ?? 200) as number;\n` +
        `  return { ok: status === (p.expect ?? 200), status, ms: Date.now() - started + limits.retries * 0 };\n` +
        `}\n`,
    );
    i++;
  }
  parts.push(
    'export default defineHealthCheck(async (ctx: HealthCheckContext & { url: string }): Promise<Outcome0> =>\n' +
      '  probe0({ url: ctx.url, meta: {} }));\n',
  );
  return parts.join('');
}

const TS = typedModule(10 * KiB);
// The same module as JavaScript (the stripped text): what "auto" sees for a
// script that is already JavaScript.
const JS = native.prepareModuleSourceNative(TS, 'ts');

const contenders = [
  { key: 'js', label: '`language: "js"` on JavaScript (no parse: the floor)', script: JS, language: 'js' },
  { key: 'autoJs', label: '`language: "auto"` on JavaScript (one JavaScript parse)', script: JS, language: 'auto' },
  { key: 'ts', label: '`language: "ts"` on TypeScript (strip)', script: TS, language: 'ts' },
  { key: 'autoTs', label: '`language: "auto"` on TypeScript (JavaScript parse fails, then strip)', script: TS, language: 'auto' },
];

let sink = 0;

/** Calls the contender for about `ms` milliseconds; returns µs per call. */
function measure(c, ms) {
  let calls = 0;
  const start = performance.now();
  let elapsed;
  do {
    for (let i = 0; i < 10; i++) sink += native.prepareModuleSourceNative(c.script, c.language).length;
    calls += 10;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (elapsed * 1000) / calls;
}

function main() {
  const { rounds, ms } = parseArgs(process.argv.slice(2));
  const runtime = typeof Bun === 'undefined' ? `node ${process.version}` : `bun ${Bun.version}`;

  for (const c of contenders) measure(c, Math.min(ms, 50)); // warm-up
  const samples = Object.fromEntries(contenders.map((c) => [c.key, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of contenders) samples[c.key].push(measure(c, ms));
  }
  // µs per 10 KiB of source.
  const per10k = Object.fromEntries(
    contenders.map((c) => [c.key, (median(samples[c.key]) * 10 * KiB) / Buffer.byteLength(c.script)]),
  );

  const lines = [
    `### TypeScript preparation — ${runtime}, ${rounds} rounds × ${ms} ms, median, per 10 KiB of source`,
    '',
    `Module: ${Buffer.byteLength(TS)} bytes of TypeScript (${Buffer.byteLength(JS)} bytes once stripped, same length).`,
    '',
    '| what | µs per 10 KiB | over `"js"` |',
    '| --- | ---: | ---: |',
    ...contenders.map((c) => `| ${c.label} | ${per10k[c.key].toFixed(1)} | ${(per10k[c.key] - per10k.js).toFixed(1)} |`),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const json = {
    bench: 'typescript',
    runtime,
    rounds,
    ms,
    sourceBytes: { ts: Buffer.byteLength(TS), js: Buffer.byteLength(JS) },
    microsecondsPer10KiB: per10k,
    sink: sink > 0,
  };
  process.stdout.write(JSON.stringify(json) + '\n');
}

main();
