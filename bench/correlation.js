#!/usr/bin/env node
'use strict';

// Correlation-id throughput (performance target T6), under whichever runtime
// runs this file: `node bench/correlation.js` or `bun bench/correlation.js`.
//
// Contenders run in interleaved rounds (A B C ... A B C ...) so that noise on
// a shared machine hits them alike; each figure is the median of the rounds.
// Output: a Markdown table, then one line of JSON (the last line) for
// bench/run.js.
//
// Options: --rounds N (default 9), --ms N per contender per round (default
// 150), --quick (5 rounds of 80 ms).

const { randomUUID } = require('node:crypto');
const { correlationId } = require('../js/correlation.js');
const native = require('../index.js');
const { parseMicroArgs: parseArgs, median } = require('./micro-common.js');

const VALID_ID = '0b7c9f6e-3c5d-4e8f-9a1b-2c3d4e5f6a7b';
const V7 = { version: 7 };

// Each contender returns a string; its length feeds a sink so that the work
// cannot be optimised away.
const contenders = [
  { key: 'randomUUID', label: '`crypto.randomUUID()`', fn: () => randomUUID() },
  { key: 'mintV4', label: '`correlationId()` (mint v4)', fn: () => correlationId() },
  { key: 'mintV7', label: '`correlationId(null, { version: 7 })`', fn: () => correlationId(null, V7) },
  { key: 'passThrough', label: '`correlationId(validId)` (pass-through)', fn: () => correlationId(VALID_ID) },
  {
    key: 'nativeCheck',
    label: 'one napi call per check (the rejected design)',
    fn: () => (native.isAcceptableCorrelationId(VALID_ID) ? VALID_ID : ''),
  },
];

let sink = 0;

/** Calls `fn` in blocks of 1000 for about `ms` milliseconds; returns calls/s. */
function measure(fn, ms) {
  let calls = 0;
  const start = performance.now();
  let elapsed;
  do {
    for (let i = 0; i < 1000; i++) sink += fn().length;
    calls += 1000;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (calls / elapsed) * 1000;
}

/** Formats calls/s as millions with two decimals. */
const millions = (rate) => `${(rate / 1e6).toFixed(2)} M/s`;

function main() {
  const { rounds, ms } = parseArgs(process.argv.slice(2));
  const runtime = typeof Bun === 'undefined' ? `node ${process.version}` : `bun ${Bun.version}`;

  for (const c of contenders) measure(c.fn, Math.min(ms, 50)); // warm-up
  const samples = Object.fromEntries(contenders.map((c) => [c.key, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of contenders) samples[c.key].push(measure(c.fn, ms));
  }
  const rates = Object.fromEntries(contenders.map((c) => [c.key, median(samples[c.key])]));

  const mintRatio = rates.mintV4 / rates.randomUUID;
  const isBun = runtime.startsWith('bun');
  const target = {
    mintRatio: isBun ? 0.5 : 1.0,
    passThroughPerSecond: 3e6,
  };
  const met = {
    mint: mintRatio >= target.mintRatio,
    passThrough: rates.passThrough >= target.passThroughPerSecond,
  };

  const lines = [
    `### correlationId() — ${runtime}, ${rounds} rounds × ${ms} ms, median`,
    '',
    '| contender | calls/s | vs randomUUID |',
    '| --- | ---: | ---: |',
    ...contenders.map(
      (c) => `| ${c.label} | ${millions(rates[c.key])} | ${(rates[c.key] / rates.randomUUID).toFixed(2)}× |`,
    ),
    '',
    `T6: mint ${mintRatio.toFixed(2)}× randomUUID (target ≥ ${target.mintRatio}×) ${met.mint ? 'met' : 'NOT met'}; ` +
      `pass-through ${millions(rates.passThrough)} (target ≥ 3 M/s) ${met.passThrough ? 'met' : 'NOT met'}`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const json = { bench: 'correlation', runtime, rounds, ms, callsPerSecond: rates, mintRatio, target, met, sink: sink > 0 };
  process.stdout.write(JSON.stringify(json) + '\n');
}

main();
