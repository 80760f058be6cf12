'use strict';

// Corpus for the ESM runner differential test. Every case is run through
// the seed runner (in Bun, by helpers/seed-driver.mjs) and through
// scriptcage (with the sandbox `off` and `standard`); the results must
// agree field by field.
//
// This file is loaded by both sides (Node or Bun for scriptcage, Bun for the
// seed), so contexts are written as values here and each process builds its
// own copy (needed for contexts JSON cannot carry: BigInt, cycles, toJSON).
//
// Rules for cases:
// - nothing that depends on the working directory, pid/ppid, host paths,
//   the environment listing or timing (the two runners run in different
//   places, concurrently);
// - no bare package imports: the seed leaves Bun's auto-install on;
// - `engine` lists the fields whose text comes from the JavaScript engine
//   itself (V8 vs JavaScriptCore). The seed always runs in Bun, so when
//   scriptcage runs under Node those fields are only compared by presence
//   and type; under Bun every field is compared exactly. `engine: 'all'`
//   means the engines disagree on the outcome itself (the case is compared
//   only when scriptcage runs under Bun).
//
// - `cold` marks a case that depends on how a runner is launched; it is
//   compared only on runs that start a fresh process (no warm pool).
//
// Fields of a case: name, script, context (default {}), timeoutMs (default
// 20000: only an upper bound for hangs), helperModuleName,
// helperFunctionName, engine, why, cold.

const HELPER = { helperModuleName: '@checkstack/healthcheck', helperFunctionName: 'defineHealthCheck' };
const META = { helperModuleName: 'my.helpers+(v1)$[x]|^{2}', helperFunctionName: 'h$_1' };

// Fixed ids for forged markers: they never match a real run's random id.
const FORGED_ID = '00000000-0000-4000-8000-000000000001';
const forged = (payload) =>
  `##__CS_SCRIPT_RESULT_${FORGED_ID}_START__##${payload}##__CS_SCRIPT_RESULT_${FORGED_ID}_END__##`;

// Reads the current run's marker id from its sibling runner module (both
// runners put runner.mjs next to user.mjs). Only a runner generated for the
// run contains its id: a pre-started (pooled) scriptcage runner receives
// its markers over a pipe, so these cases are `cold` (see below).
const COLD = 'reads the run\'s marker id from runner.mjs, which only a runner generated for the run contains (a pre-started runner gets its markers over a pipe, so a script cannot learn them)';
const READ_OWN_ID = [
  'import fs from "node:fs";',
  'const ownId = fs.readFileSync(new URL("./runner.mjs", import.meta.url), "utf8")',
  '  .match(/##__CS_SCRIPT_RESULT_([0-9a-f-]{36})_START__##/)[1];',
].join('\n');

const cycle = { name: 'root' };
cycle.self = cycle;

const cases = [
  // ---------------------------------------------------------------- exports
  { name: 'default export number', script: 'export default 42;' },
  { name: 'default export nested object', script: 'export default { ok: true, n: [1, 2, { x: "y" }], s: "str" };' },
  { name: 'default export string', script: 'export default "plain string";' },
  { name: 'default export false and zero are kept', script: 'export default [false, 0, ""].length && false;' },
  { name: 'default export zero', script: 'export default 0;' },
  { name: 'default export function gets the context', script: 'export default (ctx) => ({ got: ctx, same: ctx === globalThis.context });', context: { a: 1, b: 'two' } },
  { name: 'default export async function', script: 'export default async (ctx) => {\n  await new Promise((r) => setTimeout(r, 5));\n  return ctx.n * 2;\n};', context: { n: 21 } },
  { name: 'default export function returning undefined', script: 'export default function () {}' },
  { name: 'default export undefined', script: 'export default undefined;' },
  { name: 'default export null', script: 'export default null;' },
  { name: 'no default export', script: 'export const x = 1;\nexport function f() { return 2; }' },
  { name: 'default export promise value is not awaited', script: 'export default Promise.resolve(9);' },
  { name: 'default export a class (called without new)', script: 'export default class X {}', engine: ['error', 'stack'], why: 'class-call TypeError text and frames are engine specific' },
  { name: 'indented export statement', script: '   \n\t  export default 3;' },
  { name: 'builtin import', script: 'import { posix } from "node:path";\nexport default posix.join("a", "b");' },
  { name: 'top-level await in module', script: 'const v = await Promise.resolve(11);\nexport default v;' },
  { name: 'default export object with toJSON', script: 'export default { toJSON() { return { replaced: true }; } };' },
  { name: 'default export Date', script: 'export default new Date(0);' },
  { name: 'default export Map and Set', script: 'export default [new Map([[1, 2]]), new Set([1])];' },

  // ----------------------------------------------------------- legacy shape
  { name: 'legacy return', script: 'return context.a + 1;', context: { a: 41 } },
  { name: 'legacy return after await', script: 'const v = await Promise.resolve(5);\nreturn v * 3;' },
  { name: 'legacy trailing line comment', script: 'return 7 // the answer' },
  { name: 'legacy with export word mid-line', script: 'const s = "not an export statement";\nreturn s;' },
  { name: 'legacy dynamic import at line start', script: 'import("node:path");\nconst m = await import("node:path");\nreturn typeof m.join;' },
  { name: 'side effect only', script: 'console.log("side effect");' },
  { name: 'empty script', script: '' },
  { name: 'whitespace only script', script: '  \n\n\t ' },

  // ---------------------------------------------------------------- helpers
  { name: 'helper named import double quotes', ...HELPER, script: 'import { defineHealthCheck } from "@checkstack/healthcheck";\nexport default defineHealthCheck({ ok: 1 });' },
  { name: 'helper named import single quotes', ...HELPER, script: "import { defineHealthCheck } from '@checkstack/healthcheck';\nexport default defineHealthCheck([1, 2]);" },
  { name: 'helper multi-line import', ...HELPER, script: 'import {\n  defineHealthCheck as d,\n} from\n  "@checkstack/healthcheck";\nexport default d("multi");' },
  { name: 'helper namespace import', ...HELPER, script: 'import * as H from "@checkstack/healthcheck";\nexport default Object.keys(H);' },
  { name: 'helper side-effect import', ...HELPER, script: 'import "@checkstack/healthcheck";\nexport default defineHealthCheck(5);' },
  { name: 'helper side-effect import single quotes', ...HELPER, script: "import '@checkstack/healthcheck';\nexport default typeof defineHealthCheck;" },
  { name: 'helper re-export as default', ...HELPER, script: 'export { defineHealthCheck as default } from "@checkstack/healthcheck";', context: { via: 're-export' } },
  { name: 'helper global without import', ...HELPER, script: 'export default defineHealthCheck({ g: 1 });' },
  { name: 'helper global in legacy script', ...HELPER, script: 'return defineHealthCheck(context.a);', context: { a: 'legacy' } },
  { name: 'helper identity keeps the reference', ...HELPER, script: 'import { defineHealthCheck } from "@checkstack/healthcheck";\nconst o = {};\nexport default [defineHealthCheck(o) === o, defineHealthCheck === globalThis.defineHealthCheck];' },
  { name: 'helper module name with regex metacharacters', ...META, script: 'import { h$_1 } from "my.helpers+(v1)$[x]|^{2}";\nexport default h$_1("meta");' },
  { name: 'helper function name empty means no helper', helperModuleName: '@checkstack/healthcheck', helperFunctionName: '', script: 'export default typeof defineHealthCheck;' },
  { name: 'helper module name empty means no helper', helperModuleName: '', helperFunctionName: 'defineHealthCheck', script: 'export default typeof defineHealthCheck;' },
  { name: 'helper name inside a string is untouched', ...HELPER, script: 'const s = "from \\"@checkstack/healthcheck\\"";\nexport default s;' },

  // ---------------------------------------------------------- thrown values
  { name: 'throw Error in module', script: 'throw new Error("boom");\nexport default 1;' },
  { name: 'throw Error in legacy script', script: 'throw new Error("legacy boom");' },
  { name: 'throw string', script: 'throw "a thrown string";' },
  { name: 'throw number', script: 'throw 42;' },
  { name: 'throw null', script: 'throw null;' },
  { name: 'throw undefined', script: 'throw undefined;' },
  { name: 'throw object without message', script: 'throw { code: 7 };' },
  { name: 'throw object with message and fake stack', script: 'throw { message: "custom message", stack: "fake stack\\n  at nowhere" };' },
  { name: 'throw object with message getter', script: 'throw { get message() { return "from a getter"; } };' },
  { name: 'throw object whose message getter throws', script: 'throw { get message() { throw new Error("getter exploded"); } };', engine: 'all', why: 'the runner itself dies; the crash report on stderr is engine specific' },
  { name: 'throw Symbol', script: 'throw Symbol("sym");' },
  { name: 'throw Error subclass', script: 'class MyErr extends Error {}\nMyErr.prototype.name = "MyErr";\nthrow new MyErr("subclassed");' },
  { name: 'throw TypeError from async default', script: 'export default async () => {\n  await null;\n  throw new TypeError("async bad");\n};' },
  { name: 'rejected promise from default function', script: 'export default () => Promise.reject(new RangeError("rejected"));' },
  { name: 'throw Error with empty message', script: 'throw new Error("");' },
  { name: 'throw Error with multi-line unicode message', script: 'throw new Error("line one\\nline two ✗ 😀");' },
  { name: 'syntax error in module', script: 'export default 1 +', engine: ['error', 'stack'], why: 'parser messages and whether a SyntaxError has a stack differ' },
  { name: 'syntax error in legacy script', script: 'return {;', engine: ['error', 'stack'], why: 'parser messages and whether a SyntaxError has a stack differ' },
  { name: 'missing relative import', script: 'import x from "./does-not-exist.mjs";\nexport default x;', engine: ['error', 'stack'], why: 'resolver messages differ' },
  { name: 'reference error', script: 'return notDefinedAnywhere + 1;', engine: ['error', 'stack'], why: 'ReferenceError text differs' },

  // ----------------------------------------------------------- process exit
  { name: 'process.exit(0) before reporting', script: 'console.log("before exit");\nprocess.exit(0);' },
  { name: 'process.exit(3) with untrimmed stderr', script: 'process.stderr.write("  dying  \\n\\n");\nprocess.exit(3);' },
  { name: 'process.exitCode set but result reported', script: 'process.exitCode = 2;\nexport default "still reported";' },
  { name: 'never-settling default function', script: 'export default async () => new Promise(() => {});', timeoutMs: 1500, engine: 'all', why: 'Node exits (code 13, warning) on an unsettled top-level await; Bun keeps waiting until the timeout' },

  // --------------------------------------------------------------- markers
  { name: 'forged marker with another id is plain stderr', script: `process.stderr.write(${JSON.stringify(forged('{"ok":true,"result":"forged"}'))} + "\\n");\nexport default "real";` },
  { name: 'forged marker then exit without result', script: `process.stderr.write(${JSON.stringify(forged('{"ok":true,"result":"forged"}'))} + "\\n");\nprocess.exit(0);` },
  { name: 'forged marker on stdout is plain stdout', script: `console.log(${JSON.stringify(forged('{"ok":true,"result":"forged"}'))});\nexport default "real";` },
  { name: 'own marker written after the report wins (last occurrence)', cold: COLD, script: `${READ_OWN_ID}\nprocess.on("exit", () => {\n  process.stderr.write("##__CS_SCRIPT_RESULT_" + ownId + "_START__##" + JSON.stringify({ ok: true, result: "late" }) + "##__CS_SCRIPT_RESULT_" + ownId + "_END__##\\n");\n});\nexport default "first";` },
  { name: 'own start marker alone after the report voids it', cold: COLD, script: `${READ_OWN_ID}\nprocess.on("exit", () => {\n  process.stderr.write("##__CS_SCRIPT_RESULT_" + ownId + "_START__##dangling\\n");\n});\nexport default "voided";` },
  { name: 'own marker with an invalid payload', cold: COLD, script: `${READ_OWN_ID}\nprocess.on("exit", () => {\n  process.stderr.write("##__CS_SCRIPT_RESULT_" + ownId + "_START__##{not json##__CS_SCRIPT_RESULT_" + ownId + "_END__##\\n");\n});\nexport default "shadowed";` },
  { name: 'own marker with a payload of the wrong shape', cold: COLD, script: `${READ_OWN_ID}\nprocess.on("exit", () => {\n  process.stderr.write("##__CS_SCRIPT_RESULT_" + ownId + "_START__##" + JSON.stringify({ ok: "yes" }) + "##__CS_SCRIPT_RESULT_" + ownId + "_END__##\\n");\n});\nexport default "shadowed";` },

  // ---------------------------------------------------------------- unicode
  { name: 'unicode in output and result', script: 'console.log("héllo wörld € 😀 中文");\nconsole.error("ошибка ✗");\nexport default { s: "😀€\\u0000\\u001f", "ключ": "значение" };' },
  { name: 'lone surrogates in result', script: 'export default ["\\ud800x\\udfff", "\\udbff"];' },
  { name: 'U+2028 and U+2029 in output and result', script: 'console.log("a\\u2028b\\u2029c");\nexport default "x\\u2028y\\u2029z";' },
  { name: 'invalid UTF-8 on stdout and stderr', script: 'process.stdout.write(Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xf0, 0x9f, 0x98, 0x41, 0xc0, 0xaf, 0xed, 0xa0, 0x80]));\nprocess.stderr.write(Buffer.from([0xfe, 0x7a]));\nexport default 1;' },
  { name: 'leading BOM on stdout and stderr', script: 'process.stdout.write("\\ufeffBOM-led stdout\\n");\nprocess.stderr.write("\\ufeff\\ufeffBOM-led stderr\\n");\nexport default "\\ufeffresult keeps its BOM";' },
  { name: 'BOM and NEL in the middle and at the end', script: 'process.stdout.write("x\\ufeffy\\u0085");\nprocess.stderr.write("\\u0085e\\ufeff");\nexport default 1;' },
  { name: 'leading BOM on stderr with no result', script: 'process.stderr.write("\\ufeff  raw \\n");\nprocess.exit(0);' },

  // ------------------------------------------------------------ whitespace
  { name: 'stdout and stderr trimmed', script: 'process.stdout.write("\\n\\n  \\t padded stdout \\t\\n\\n");\nprocess.stderr.write("\\r\\n  padded stderr \\u00a0\\u3000\\n");\nexport default "  result is not trimmed  ";' },
  { name: 'CRLF output', script: 'process.stdout.write("one\\r\\ntwo\\r\\n");\nexport default 1;' },
  { name: 'stderr noise before the result', script: 'console.error("noise line 1");\nconsole.warn("noise line 2");\nexport default "ok";' },
  { name: 'stderr after the report', script: 'process.on("exit", () => process.stderr.write("written after the report\\n"));\nexport default 1;' },
  { name: 'timer output after the result', script: 'setTimeout(() => console.log("late line"), 20);\nconsole.log("early line");\nexport default "early";' },

  // ----------------------------------------------------------------- sizes
  { name: '1 MB result', script: 'export default "x".repeat(1024 * 1024 - 3) + "€";' },
  { name: 'large stdout', script: 'const pad = "y".repeat(60);\nfor (let i = 0; i < 20000; i++) console.log("line " + i + " " + pad);\nexport default "done";' },
  { name: 'synchronous 2 MiB write to stdout (fs.writeSync)', script: 'import fs from "node:fs";\nconst chunk = Buffer.alloc(65536, "o");\nlet total = 0;\nwhile (total < 2 * 1024 * 1024) total += fs.writeSync(1, chunk);\nexport default total;' },
  { name: 'synchronous 2 MiB write to stderr (fs.writeSync)', script: 'import fs from "node:fs";\nconst chunk = Buffer.alloc(65536, "e");\nlet total = 0;\nwhile (total < 2 * 1024 * 1024) total += fs.writeSync(2, chunk);\nexport default total;' },
  { name: 'large result object', script: 'export default Array.from({ length: 20000 }, (_, i) => ({ i, s: "v" + i }));' },

  // --------------------------------------------------------------- context
  { name: 'context undefined', context: undefined, script: 'export default [typeof context, "context" in globalThis];' },
  { name: 'context null', context: null, script: 'export default [context, typeof context];' },
  { name: 'context is a string', context: 'just a string', script: 'export default context.toUpperCase();' },
  { name: 'context function is dropped', context: () => 1, script: 'export default typeof context;' },
  { name: 'context toJSON', context: { toJSON() { return { replaced: true }; } }, script: 'export default context;' },
  { name: 'context Date', context: { when: new Date(86400000) }, script: 'export default [typeof context.when, context.when];' },
  { name: 'context nested', context: { a: { b: { c: [1, { d: [null, true, 'é'] }] } }, '': 'empty key', 'k y': -0.5e-7 }, script: 'export default context;' },
  { name: 'context with U+2028 and U+2029', context: { s: 'a\u2028b\u2029c', k: ['\u2028'] }, script: 'export default [context.s.length, context];' },
  { name: 'context drops functions and undefined', context: { f() {}, u: undefined, keep: 1, arr: [undefined, () => 1, Symbol('s')] }, script: 'export default context;' },
  { name: 'context NaN and Infinity', context: { n: NaN, i: Infinity, m: -Infinity }, script: 'export default context;' },
  { name: 'context __proto__ key becomes the prototype', context: JSON.parse('{"__proto__": {"x": 1}, "y": 2}'), script: 'export default [Object.keys(context), context.x, context.y];' },
  { name: 'context with code-like strings', context: { s: '"); process.exit(9); ("', t: '${x}`</script>*/', b: '\\' }, script: 'export default context;' },
  { name: 'context with lone surrogate', context: { s: '\ud800' }, script: 'export default [context.s.length, context.s.charCodeAt(0)];' },
  { name: 'context BigInt rejects', context: { n: 10n }, script: 'export default 1;', engine: ['rejectionMessage'], why: 'JSON.stringify error text differs' },
  { name: 'context cycle rejects', context: cycle, script: 'export default 1;', engine: ['rejectionMessage'], why: 'JSON.stringify error text differs' },

  // ------------------------------------------ results JSON cannot carry
  { name: 'result function becomes undefined', script: 'export default () => () => 1;' },
  { name: 'result Symbol becomes undefined', script: 'export default () => Symbol("s");' },
  { name: 'result BigInt is an error', script: 'export default () => 10n;', engine: ['error', 'stack'], why: 'JSON.stringify error text differs' },
  { name: 'result cycle is an error', script: 'const a = { name: "a" };\na.self = a;\nexport default a;', engine: ['error', 'stack'], why: 'JSON.stringify error text differs' },
  { name: 'result NaN and Infinity become null', script: 'export default [NaN, Infinity, -Infinity, -0, { n: NaN }];' },
  { name: 'result undefined members dropped', script: 'export default { a: undefined, b: 1, c: [undefined] };' },

  // ------------------------------------------------------------- process
  { name: 'stdin is empty (async iteration)', script: 'let s = "";\nfor await (const c of process.stdin) s += c;\nexport default s.length;' },
  { name: 'stdin is empty (readFileSync(0))', script: 'import fs from "node:fs";\nlet v;\ntry { v = fs.readFileSync(0, "utf8").length; } catch (e) { v = e.code; }\nexport default v;' },
  { name: 'argv is the runtime and runner.mjs', script: 'import path from "node:path";\nexport default [process.argv.length, path.basename(process.argv[1]), path.basename(new URL(import.meta.url).pathname)];' },
  { name: 'unhandled rejection after the result', script: 'setTimeout(() => Promise.reject(new Error("late")), 10);\nexport default 1;', engine: ['stderr'], why: 'the crash report format is the runtime\'s' },
  { name: 'result with __proto__ keys', script: 'export default JSON.parse(\'{"__proto__": 1, "a": {"__proto__": {"b": 2}}}\');' },
  { name: 'result number edge cases', script: 'export default [2 ** 53 + 2, 1e21, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, -1e-7];' },
  { name: 'deeply nested result', script: 'let v = 0;\nfor (let i = 0; i < 2000; i++) v = [v];\nexport default v;' },
  { name: 'large stderr before the result', script: 'process.stderr.write("e".repeat(512 * 1024) + "\\n");\nexport default "after big stderr";' },

  // --------------------------------------------------------------- timeout
  { name: 'timeout on a busy loop', script: 'console.log("started");\nwhile (true) {}', timeoutMs: 700 },
  { name: 'timeout on an open handle', script: 'setInterval(() => {}, 1000);\nexport default 1;', timeoutMs: 700 },
];

for (const c of cases) {
  if (!('context' in c)) c.context = {};
  if (c.timeoutMs === undefined) c.timeoutMs = 20000;
}

/** Options object for `run()` (only the fields a caller would pass). */
function optionsOf(c) {
  const o = { script: c.script, context: c.context, timeoutMs: c.timeoutMs };
  if ('helperModuleName' in c) o.helperModuleName = c.helperModuleName;
  if ('helperFunctionName' in c) o.helperFunctionName = c.helperFunctionName;
  return o;
}

module.exports = { cases, optionsOf, FORGED_ID };
