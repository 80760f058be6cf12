'use strict';

// The soak shared by __test__/soak.test.js (bounded) and bench/soak.js
// (long): mixed runs (results, throws, timeouts, output floods, syntax
// errors) at a given concurrency, each checked; then the host's
// descriptors, threads, staging directories and RSS.

const fs = require('node:fs');

const KINDS = [
  {
    name: 'result',
    opts: (i) => ({ script: 'export default (c) => c.n * 2', context: { n: i } }),
    ok: (r, i) => r.result === i * 2 && r.error === undefined,
  },
  {
    name: 'throw',
    opts: (i) => ({ script: `export default () => { throw new Error("boom-${i}"); }` }),
    ok: (r, i) => r.error === `boom-${i}` && typeof r.stack === 'string',
  },
  {
    name: 'timeout',
    opts: () => ({ script: 'export default () => new Promise(() => setInterval(() => {}, 1000))', timeoutMs: 300 }),
    ok: (r) => r.timedOut === true && r.error === 'Script execution timed out',
  },
  {
    name: 'flood',
    opts: () => ({ script: 'export default () => { const s = "x".repeat(65536); for (let k = 0; k < 160; k++) process.stdout.write(s); return 1; };' }),
    ok: (r) => r.outputTruncated === true && typeof r.error === 'string',
  },
  {
    name: 'syntax error',
    opts: () => ({ script: 'export default {' }),
    ok: (r) => typeof r.error === 'string' && r.result === undefined && r.timedOut === false,
  },
];

function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

function threadCount() {
  const m = /^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

function rssMiB() {
  return process.memoryUsage().rss / 1048576;
}

function stagingIn(dir) {
  return fs.readdirSync(dir).filter((n) => /^\.?scriptcage-/.test(n)).length;
}

/**
 * Runs `count` mixed runs at `concurrency` with `sc` (the package).
 * Returns { wrong: [...], byKind, ms }.
 */
async function soak(sc, { count, concurrency, timeoutMs = 60000 }) {
  let next = 0;
  const wrong = [];
  const byKind = {};
  const t0 = Date.now();
  async function worker() {
    while (next < count) {
      const i = next++;
      const kind = KINDS[i % KINDS.length];
      const r = await sc.runEsmScript({ timeoutMs, ...kind.opts(i) }).catch((e) => e);
      byKind[kind.name] = (byKind[kind.name] || 0) + 1;
      if (r instanceof Error || !kind.ok(r, i)) {
        // A summary only: holding whole results would weigh on the RSS
        // this measures.
        const brief = r instanceof Error ? String(r) : JSON.stringify({ ...r, sandbox: undefined }).slice(0, 300);
        wrong.push(wrong.length < 20 ? { i, kind: kind.name, r: brief } : null);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { wrong, byKind, ms: Date.now() - t0 };
}

/** Waits until `cond()` or `ms` passed. */
async function settle(cond, ms) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return cond();
}

module.exports = { KINDS, soak, fdCount, threadCount, rssMiB, stagingIn, settle };
