'use strict';

// TypeScript user scripts (`language: "js" | "ts" | "auto"`). Runs under
// `node --test` and `bun test`; the script's runtime is the host's own, so
// under Node the typed modules run in Node children and under Bun in Bun
// children.
//
// Cold versus warm, as in pool.test.js: a cold run has `warmProcesses: 0`;
// a warm run waits until the pool holds a booted process and must consume
// one of the idle pids it saw before the run.
//
// Positions: types are erased in place, so a frame of the user's module
// points at the TypeScript source's line and column. Node puts a `throw new
// Error()` frame at `new`, Bun at `Error`; each is checked against its own
// runtime, and against the same module written as JavaScript with the types
// blanked out by hand.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { IS_BUN, RUNTIME, scriptcage, repoRoot } = require('./helpers/env.js');

const sc = scriptcage();
const native = require(path.join(repoRoot, 'index.js'));
const HELPER = { helperModuleName: '@checkstack/healthcheck', helperFunctionName: 'defineHealthCheck' };
const RUN_TIMEOUT_MS = 30000;
const TEST_TIMEOUT = { timeout: 180000 };
const WARM = 2;
const defaultPool = sc.runnerStats().warmProcesses;

after(() => sc.configureRunner({ warmProcesses: defaultPool }));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, what, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function run(script, extra = {}) {
  return sc.runEsmScript({ script, context: {}, timeoutMs: RUN_TIMEOUT_MS, ...extra });
}

/** One run, cold (no pool) or warm (in a pooled process it must consume). */
async function runIn(mode, script, extra) {
  if (mode === 'cold') {
    sc.configureRunner({ warmProcesses: 0 });
    return run(script, extra);
  }
  sc.configureRunner({ warmProcesses: WARM });
  if (sc.runnerStats().idle === 0) await run('export default 0');
  const before = await waitFor(() => {
    const s = sc.runnerStats();
    return s.idle > 0 ? s.idlePids : null;
  }, 'a booted pooled process');
  const r = await run(script, extra);
  const now = sc.runnerStats().idlePids;
  assert.ok(
    before.some((pid) => !now.includes(pid)),
    `the warm run consumed one of the idle processes ${JSON.stringify(before)} (idle now ${JSON.stringify(now)})`,
  );
  return r;
}

function show(r) {
  const { sandbox, usage, ...rest } = r;
  return JSON.stringify(rest);
}

// ---------------------------------------------------------------------------
// Typed modules
// ---------------------------------------------------------------------------

const TYPED = [
  {
    name: 'interfaces and generics',
    script: [
      'interface Box<T> { value: T; label?: string }',
      'function unwrap<T>(box: Box<T>): T { return box.value; }',
      'const twice = <T extends number>(n: T): number => n * 2;',
      'export default (ctx: { n: number }): number => twice(unwrap<number>({ value: ctx.n }));',
    ].join('\n'),
    context: { n: 21 },
    result: 42,
  },
  {
    name: 'as const and typeof types',
    script: [
      'const LEVELS = ["ok", "warn", "fail"] as const;',
      'type Level = (typeof LEVELS)[number];',
      'const pick = (i: number): Level => LEVELS[i];',
      'export default [pick(0), pick(2), LEVELS.length];',
    ].join('\n'),
    result: ['ok', 'fail', 3],
  },
  {
    name: 'satisfies',
    script: [
      'type Config = { retries: number; url: string };',
      'const config = { retries: 3, url: "http://x" } satisfies Config;',
      'export default { retries: config.retries, url: config.url };',
    ].join('\n'),
    result: { retries: 3, url: 'http://x' },
  },
  {
    name: 'definite assignment',
    script: [
      'let count!: number;',
      'init();',
      'function init(): void { count = 7; }',
      'class Counter { value!: number; private readonly step: number = 2; bump(): number { return (this.value = count + this.step); } }',
      'export default new Counter().bump();',
    ].join('\n'),
    result: 9,
  },
  {
    name: 'type-only imports of the helper module; the value import is rewritten',
    ...HELPER,
    script: [
      'import type { HealthCheckContext } from "@checkstack/healthcheck";',
      "import { defineHealthCheck, type HealthCheckResult } from '@checkstack/healthcheck';",
      'type Ctx = HealthCheckContext & { n: number };',
      'export default defineHealthCheck(async (ctx: Ctx): Promise<HealthCheckResult> => ({ ok: ctx.n > 0, n: ctx.n }));',
    ].join('\n'),
    context: { n: 5 },
    result: { ok: true, n: 5 },
  },
  {
    name: 'type-only import of a module that does not exist',
    script: 'import type { Missing } from "no-such-package";\nconst v: Missing | number = 4;\nexport default v;',
    result: 4,
  },
  {
    name: 'overloads, abstract classes, declare, non-null assertions',
    script: [
      'function id(a: string): string;',
      'function id(a: number): number;',
      'function id(a: any): any { return a; }',
      'declare const missing: unknown;',
      'abstract class Shape { abstract area(): number; describe(): string { return `area ${this.area()}`; } }',
      'class Square extends Shape { area(): number { return 4; } }',
      'const m = new Map<string, number>([["a", 1]]);',
      'export default [id("s"), id(2), new Square().describe(), m.get("a")! + 1];',
    ].join('\n'),
    result: ['s', 2, 'area 4', 2],
  },
  {
    name: 'legacy return form with types',
    script: 'const n: number = context.a as number;\nreturn { doubled: n * 2 } satisfies { doubled: number };',
    context: { a: 8 },
    result: { doubled: 16 },
  },
  {
    name: 'type-only namespaces and declarations are erased',
    script: 'namespace Types { export type Id = string; }\ndeclare global { var injected: string | undefined }\nconst id: Types.Id = "x1";\nexport default id;',
    result: 'x1',
  },
];

for (const mode of ['cold', 'warm']) {
  describe(`typed modules run (${RUNTIME}, ${mode})`, () => {
    after(() => sc.configureRunner({ warmProcesses: defaultPool }));
    for (const c of TYPED) {
      for (const language of ['auto', 'ts']) {
        test(`${c.name} (language ${language})`, TEST_TIMEOUT, async () => {
          const { name, script, result, ...extra } = c;
          const r = await runIn(mode, script, { ...extra, language });
          assert.equal(r.error, undefined, show(r));
          assert.deepEqual(r.result, result, show(r));
          assert.equal(r.timedOut, false);
        });
      }
    }
  });
}

test('defaultEsmScriptRunner.run takes the language option too', TEST_TIMEOUT, async () => {
  const r = await sc.defaultEsmScriptRunner.run({
    script: 'export default (c: { n: number }): number => c.n + 1;',
    context: { n: 1 },
    timeoutMs: RUN_TIMEOUT_MS,
    language: 'ts',
  });
  assert.equal(r.result, 2, show(r));
});

// ---------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------

const THROWS_ON_LINE_5 = [
  'interface Ctx { n: number }',
  'type Result = { v: number };',
  'const scale: number = 2;',
  'function check(c: Ctx): Result {',
  '  if (c.n < 0) { const msg: string = "négatif"; throw new Error(msg as string); }',
  '  return { v: c.n * scale };',
  '}',
  'export default check;',
].join('\n');

/** The same module as JavaScript, types blanked out by hand. */
const BLANKED_JS = [
  '                           ',
  '                            ',
  'const scale         = 2;',
  'function check(c    )         {',
  '  if (c.n < 0) { const msg         = "négatif"; throw new Error(msg          ); }',
  '  return { v: c.n * scale };',
  '}',
  'export default check;',
].join('\n');

function userFrame(stack) {
  const m = /user\.mjs:(\d+):(\d+)/.exec(stack || '');
  assert.ok(m, `a frame in the user's module: ${stack}`);
  return { line: Number(m[1]), column: Number(m[2]) };
}

for (const mode of ['cold', 'warm']) {
  test(`an error thrown on line 5 reports line 5 and its column (${RUNTIME}, ${mode})`, TEST_TIMEOUT, async () => {
    try {
      const line5 = THROWS_ON_LINE_5.split('\n')[4];
      const column = line5.indexOf(IS_BUN ? 'Error(' : 'new Error') + 1;
      for (const language of ['auto', 'ts']) {
        const r = await runIn(mode, THROWS_ON_LINE_5, { context: { n: -1 }, language });
        assert.equal(r.error, 'négatif', show(r));
        assert.deepEqual(userFrame(r.stack), { line: 5, column }, r.stack);
      }
      const js = await runIn(mode, BLANKED_JS, { context: { n: -1 }, language: 'js' });
      assert.equal(js.error, 'négatif', show(js));
      assert.deepEqual(userFrame(js.stack), { line: 5, column }, 'the hand-blanked JavaScript agrees');
    } finally {
      sc.configureRunner({ warmProcesses: defaultPool });
    }
  });
}

test('the legacy form keeps the same one-line offset as JavaScript has', TEST_TIMEOUT, async () => {
  const ts = 'const a: number = 1;\nif (a > 0) throw new Error("legacy");\nreturn a;';
  const js = 'const a         = 1;\nif (a > 0) throw new Error("legacy");\nreturn a;';
  const rt = await run(ts);
  const rj = await run(js, { language: 'js' });
  assert.equal(rt.error, 'legacy', show(rt));
  assert.deepEqual(userFrame(rt.stack), userFrame(rj.stack));
});

// ---------------------------------------------------------------------------
// Unsupported constructs: named, with their place, and nothing runs
// ---------------------------------------------------------------------------

const UNSUPPORTED = [
  { construct: 'enum declaration', script: 'console.log("ran");\nconst x: number = 1;\nenum Colour { Red, Green }\nexport default x;', line: 3, column: 1 },
  {
    construct: 'namespace with runtime code',
    script: 'console.log("ran");\nnamespace Util {\n  export const twice = (n: number) => n * 2;\n}\nexport default 1;',
    line: 2,
    column: 1,
  },
  {
    construct: 'parameter property',
    script: 'console.log("ran");\nclass Point {\n  constructor(public x: number) {}\n}\nexport default new Point(1).x;',
    line: 3,
    column: 22,
  },
  {
    construct: '`import x = require(...)`',
    script: 'console.log("ran");\nimport fs = require("node:fs");\nexport default typeof fs;',
    line: 2,
    column: 1,
  },
  { construct: '`export =`', script: 'console.log("ran");\nconst v: number = 1;\nexport = v;', line: 3, column: 1 },
  {
    construct: 'angle-bracket type assertion',
    script: 'console.log("ran");\nconst v = <number>JSON.parse("1");\nexport default v;',
    line: 2,
    column: 11,
  },
];

describe(`unsupported constructs get a named error (${RUNTIME})`, () => {
  for (const c of UNSUPPORTED) {
    for (const language of ['ts', 'auto']) {
      test(`${c.construct} (language ${language})`, TEST_TIMEOUT, async () => {
        const r = await run(c.script, { language });
        assert.equal(typeof r.error, 'string', show(r));
        if (language === 'ts') assert.match(r.error, /^TypeScript: /);
        else assert.match(r.error, /^SyntaxError: .*\(line \d+, column \d+\); as TypeScript: /);
        const tsPart = r.error.slice(r.error.indexOf('TypeScript: ') + 'TypeScript: '.length);
        assert.ok(tsPart.startsWith(`TypeScript ${c.construct}`), `names the construct: ${r.error}`);
        assert.ok(tsPart.endsWith(`(line ${c.line}, column ${c.column})`), `says where: ${r.error}`);
        assert.match(tsPart, /needs code generation/);
        assert.equal(r.stdout, '', 'nothing ran');
        assert.equal(r.result, undefined);
        assert.equal(r.timedOut, false);
        assert.equal(typeof r.sandbox, 'object', 'the result still has its sandbox report');
      });
    }
  }

  test('several unsupported constructs are all listed, in source order', async () => {
    const r = await run('enum A { X }\nenum B { Y }\nexport default 1;', { language: 'ts' });
    assert.match(r.error, /enum declaration .*\(line 1, column 1\); TypeScript enum declaration .*\(line 2, column 1\)/);
  });

  test('legacy bodies report lines of the user script', async () => {
    const r = await run('const n: number = 1;\nenum E { A }\nreturn n;', { language: 'ts' });
    assert.match(r.error, /enum declaration .*\(line 2, column 1\)/);
  });
});

// ---------------------------------------------------------------------------
// What "auto", "js" and "ts" decide
// ---------------------------------------------------------------------------

describe(`language selection (${RUNTIME})`, () => {
  const AMBIGUOUS = 'const a = 1, b = 2, c = 3;\nexport default a < b > (c);';

  test('`a < b > (c)` keeps its JavaScript meaning under "auto"', async () => {
    for (const language of [undefined, 'auto', 'js']) {
      const r = await run(AMBIGUOUS, language ? { language } : {});
      assert.equal(r.error, undefined, show(r));
      assert.equal(r.result, false, `(1 < 2) > 3 is false, language ${language}`);
    }
    // As TypeScript it is the generic call a<b>(c), and a is not a function.
    const ts = await run(AMBIGUOUS, { language: 'ts' });
    assert.match(ts.error, /not a function/, show(ts));
  });

  test('"js" never strips: type syntax is the runtime\'s own syntax error', async () => {
    const r = await run('const n: number = 1;\nexport default n;', { language: 'js' });
    assert.equal(typeof r.error, 'string', show(r));
    assert.doesNotMatch(r.error, /TypeScript/);
  });

  test('"ts" reports a TypeScript syntax error with its position; nothing runs', async () => {
    const r = await run('console.log("ran");\nconst x: number = ;\nexport default x;', { language: 'ts' });
    assert.match(r.error, /^TypeScript: .*\(line 2, column \d+\)$/, show(r));
    assert.equal(r.stdout, '');
  });

  test('"auto": TypeScript that does not strip reports the JavaScript error with the TypeScript one beside it', async () => {
    const r = await run('const x: number = 1;\nconst y: string = ;\nexport default x;');
    assert.match(r.error, /^SyntaxError: .*\(line 1, column \d+\); as TypeScript: .*\(line 2, column 19\)$/, show(r));
  });

  test('"auto": broken JavaScript is the runtime\'s own error, exactly as with "js"', async () => {
    for (const script of ['export default 1 +', 'return {;']) {
      const auto = await run(script);
      const js = await run(script, { language: 'js' });
      assert.equal(typeof auto.error, 'string', show(auto));
      assert.doesNotMatch(auto.error, /TypeScript/);
      const dirless = (e) => e.replace(/scriptcage-[A-Za-z0-9]+/g, '<RUN_DIR>');
      assert.equal(dirless(auto.error), dirless(js.error), script);
      assert.deepEqual(Object.keys(auto), Object.keys(js));
    }
  });

  test('"auto" leaves JavaScript byte for byte as it was', () => {
    for (const script of [AMBIGUOUS, 'export default 1;', 'return context;', 'import x from "y";\nexport default x;']) {
      assert.equal(native.prepareModuleSourceNative(script, 'auto'), sc.normaliseUserScript(script));
    }
  });

  test('stripping keeps every line and column', () => {
    const out = native.prepareModuleSourceNative(THROWS_ON_LINE_5, 'ts');
    const a = THROWS_ON_LINE_5.split('\n');
    const b = out.split('\n');
    assert.equal(b.length, a.length);
    a.forEach((line, i) => assert.equal(b[i].length, line.length, `line ${i + 1}: ${b[i]}`));
    assert.doesNotMatch(out, /interface|: number|as string/);
  });

  test('deeply nested scripts neither crash the host nor hang (auto and ts)', TEST_TIMEOUT, async () => {
    // About 20 times deeper than an 8 MiB stack takes through swc's parser.
    const depth = 50000;
    const nested = `export default ${'('.repeat(depth)}1${')'.repeat(depth)};`;
    const typed = `const n: number = ${'-('.repeat(depth)}1${')'.repeat(depth)};\nexport default n;`;
    for (const [script, language] of [[nested, 'auto'], [nested, 'ts'], [typed, 'auto'], [typed, 'ts']]) {
      const r = await run(script, { language });
      assert.equal(r.timedOut, false, language);
      assert.ok(r.error === undefined || typeof r.error === 'string', show(r).slice(0, 300));
      assert.ok(!/TypeScript/.test(r.error || ''), `prepared without a TypeScript error: ${(r.error || '').slice(0, 300)}`);
    }
    const big = `export default 1;${' '.repeat(300 * 1024)}`;
    assert.equal((await run(big)).result, 1, 'over 256 KiB, "auto" runs the script as it is');
    assert.match((await run(big, { language: 'ts' })).error, /^TypeScript: the script is \d+ bytes; scripts over \d+ bytes are not type-stripped$/);
    assert.equal((await run('export default 2')).result, 2, 'the host still runs scripts');
  });

  test('a bad language is a TypeError naming `language`, before anything runs', async () => {
    for (const bad of ['tsx', 'TS', '', 'javascript', 1, true, {}, ['ts']]) {
      await assert.rejects(run('export default 1', { language: bad }), (err) => {
        assert.ok(err instanceof TypeError, `${JSON.stringify(bad)}: ${err}`);
        assert.match(err.message, /^language: must be "js", "ts" or "auto"/);
        return true;
      });
    }
    // run() never throws synchronously.
    const p = sc.runEsmScript({ script: '', timeoutMs: 1000, language: 7 });
    assert.ok(p instanceof Promise);
    await assert.rejects(p, TypeError);
    for (const ok of [undefined, null]) {
      const r = await run('export default 1', { language: ok });
      assert.equal(r.result, 1);
    }
  });
});

// ---------------------------------------------------------------------------
// normaliseUserScript and rewriteHelperImports on TypeScript input
// ---------------------------------------------------------------------------

test('normaliseUserScript and rewriteHelperImports work on TypeScript input', () => {
  const body = 'const n: number = context.a;\nreturn n as number;';
  assert.equal(sc.normaliseUserScript(body), `export default await (async () => {\n${body}\n})();\n`);
  const mod = 'import type { A } from "@h/x";\nexport default (1 as A);';
  assert.equal(sc.normaliseUserScript(mod), mod);
  const url = 'file:///tmp/h.mjs';
  const out = sc.rewriteHelperImports({
    userScript: 'import type { A } from "@h/x";\nimport { h, type B } from \'@h/x\';\nexport default h<A>(1 as B);',
    helperModuleName: '@h/x',
    helperUrl: url,
  });
  assert.equal(out, `import type { A } from "${url}";\nimport { h, type B } from "${url}";\nexport default h<A>(1 as B);`);
});

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

function runCli(args, cwd) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.SCRIPTCAGE_SANDBOX;
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'scriptcage.js'), ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe(`command line (${RUNTIME})`, () => {
  let dir;
  const TS = 'interface C { a: number }\nexport default (c: C): number => c.a * 3;\n';
  const AMBIGUOUS = 'const a = (x) => x, b = 2, c = 3;\nexport default a < b > (c);\n';

  test('runs .ts and .mts files, and --language overrides the extension', TEST_TIMEOUT, async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-ts-cli-'));
    try {
      for (const name of ['check.ts', 'check.mts']) {
        fs.writeFileSync(path.join(dir, name), TS);
        const r = await runCli(['run', name, '--context', '{"a":2}'], dir);
        assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
        assert.equal(JSON.parse(r.stdout).result, 6);
      }
      // .ts files are read as TypeScript: a<b>(c) is a generic call.
      fs.writeFileSync(path.join(dir, 'ambiguous.ts'), AMBIGUOUS);
      const asTs = JSON.parse((await runCli(['run', 'ambiguous.ts'], dir)).stdout);
      assert.equal(asTs.result, 3, JSON.stringify(asTs));
      const asAuto = JSON.parse((await runCli(['run', 'ambiguous.ts', '--language', 'auto'], dir)).stdout);
      assert.equal(asAuto.result, false, JSON.stringify(asAuto));
      fs.writeFileSync(path.join(dir, 'typed.mjs'), TS);
      const mjs = await runCli(['run', 'typed.mjs', '--context', '{"a":1}'], dir);
      assert.equal(JSON.parse(mjs.stdout).result, 3, 'a .mjs file is read with "auto"');
      const asJs = await runCli(['run', 'check.ts', '--language=js'], dir);
      assert.equal(asJs.code, 1);
      assert.doesNotMatch(JSON.parse(asJs.stdout).error, /TypeScript/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the typed example runs', TEST_TIMEOUT, async () => {
    const r = await runCli(
      [
        'run',
        path.join(repoRoot, 'examples', 'typed-check.ts'),
        '--helper',
        '@checkstack/healthcheck:defineHealthCheck',
        '--context',
        JSON.stringify({ service: 'billing', lastHeartbeat: Date.now() - 5000 }),
      ],
      repoRoot,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.result.ok, true, r.stdout);
    assert.equal(out.result.service, 'billing');
  });

  test('a bad --language is a usage error', async () => {
    const r = await runCli(['run', '-', '--language', 'tsx'], repoRoot);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--language must be one of js, ts, auto, got "tsx"/);
    const s = await runCli(['run', '-', '--shell', '--language', 'ts'], repoRoot);
    assert.equal(s.code, 2);
    assert.match(s.stderr, /--language applies to ES modules/);
  });
});
