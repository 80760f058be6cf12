'use strict';

// The two source transforms of the ESM runner, through the public API:
// `normaliseUserScript` (use a module as is, wrap anything else) and
// `rewriteHelperImports` (point imports of the virtual helper module at the
// generated file). Expected outputs are written out for the documented
// behaviour and the edge cases; then every input is also run through the
// seed's own functions (in a Bun subprocess) and the outputs must be equal.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { scriptcage, findBun, seedUnavailableReason } = require('./helpers/env.js');

const { normaliseUserScript, rewriteHelperImports } = scriptcage();

// The wrapping the API contract specifies for non-module sources.
const wrap = (src) => `export default await (async () => {\n${src}\n})();\n`;

const NAME = '@checkstack/healthcheck';
const URL = 'file:///tmp/scriptcage-abc123/_helpers.mjs';
const Q = JSON.stringify(URL);
const rw = (userScript, helperModuleName = NAME, helperUrl = URL) =>
  rewriteHelperImports({ userScript, helperModuleName, helperUrl });

// ------------------------------------------------------ normaliseUserScript

// [description, input, module? (true: returned as is; false: wrapped)]
const NORMALISE = [
  ['default export', 'export default 1;', true],
  ['import then export', "import x from 'y';\nexport default x;", true],
  ['legacy return', 'return 1;', false],
  ['empty source', '', false],
  ['side effects only', 'console.log(1)', false],
  ['indented export after blank lines', '  \n\t export default 2', true],
  ['export in a line comment is not at line start', '// export default 1', false],
  ['export after code on the same line', 'const a = 1; export default a', false],
  ['exports identifier', 'exports.x = 1', false],
  ['export{ without whitespace', 'export{ a }', false],
  ['import{ without whitespace', "import{a} from 'b'", false],
  ['import{ on one line, export on the next', "import{a} from 'b'\nexport default a", true],
  ['import( dynamic import at line start', "import('node:fs')\nreturn 1", false],
  ['importx is not import', "importx from 'y'", false],
  ['export at end of input without trailing whitespace', 'const a = 1\nexport', false],
  ['export followed by a newline', 'export\ndefault 1', true],
  ['import followed by a tab', "import\tx from 'y'", true],
  ['import followed by a newline', "import\nx from 'y'", true],
  ['CRLF line endings', 'const a = 1;\r\nexport default a;\r\n', true],
  ['CR alone ends a line', 'const a = 1;\rexport default a;', true],
  ['U+2028 starts a line', 'const a = 1;\u2028export default a;', true],
  ['U+2029 starts a line', "const a = 1;\u2029import b from 'c';", true],
  ['U+0085 (NEL) is not a line terminator', 'const a = 1;\u0085export default a;', false],
  ['BOM counts as leading whitespace', '\ufeffexport default 1', true],
  ['NBSP around the keyword', '\u00a0export\u00a0default 1', true],
  ['ideographic space after the keyword', 'export\u3000default 1', true],
  ['vertical tab and form feed', '\u000b\u000cexport default 1', true],
  ['U+180E is not whitespace', '\u180eexport default 1', false],
  ['zero-width space is not whitespace', '\u200bexport default 1', false],
  ['export inside a block comment at line start', '/*\nexport default 1 */ return 2', true],
  ['import inside a template literal at line start', 'const s = `\nimport x`;\nreturn s', true],
  ['trailing line comment gets its own line', 'return 7 // done', false],
  ['NUL characters', 'return "\u0000";\u0000', false],
  ['legacy source containing the wrapper text', 'return 1;\n})();\n(async () => {', false],
  ['uppercase EXPORT is not a keyword', 'EXPORT default 1', false],
  ['astral characters', 'return "😀𝒳";', false],
  ['large legacy source', `return ${JSON.stringify('z'.repeat(200000))};`, false],
];

for (const [desc, input, isModule] of NORMALISE) {
  test(`normaliseUserScript: ${desc}`, () => {
    const expected = isModule ? input : wrap(input);
    assert.equal(normaliseUserScript(input), expected);
  });
}

test('normaliseUserScript: wrapped output is a loadable module shape', () => {
  const out = normaliseUserScript('return 1');
  assert.ok(out.startsWith('export default await (async () => {\n'));
  assert.ok(out.endsWith('\n})();\n'));
});

// ----------------------------------------------------- rewriteHelperImports

// [description, userScript, expected, helperModuleName?, helperUrl?]
const REWRITE = [
  ['named import, double quotes', `import { h } from "${NAME}";`, `import { h } from ${Q};`],
  ['named import, single quotes', `import { h } from '${NAME}';`, `import { h } from ${Q};`],
  ['side-effect import, double quotes', `import "${NAME}";`, `import ${Q};`],
  ['side-effect import, single quotes', `import '${NAME}'`, `import ${Q}`],
  ['export from', `export { h } from "${NAME}";`, `export { h } from ${Q};`],
  ['export star from', `export * from '${NAME}';`, `export * from ${Q};`],
  ['namespace import across lines', `import * as n from\n\t'${NAME}'`, `import * as n from\n\t${Q}`],
  ['import{ without space before the name list', `import{ h } from "${NAME}"`, `import{ h } from ${Q}`],
  ['from" without whitespace is left alone', `import{h}from"${NAME}"`, `import{h}from"${NAME}"`],
  ['several imports', `import { a } from "${NAME}";\nimport '${NAME}';\nexport { b } from '${NAME}';`, `import { a } from ${Q};\nimport ${Q};\nexport { b } from ${Q};`],
  ['mismatched quotes are left alone', `import { h } from "${NAME}';`, `import { h } from "${NAME}';`],
  ['dynamic import is left alone', `await import('${NAME}')`, `await import('${NAME}')`],
  ['plain string literal is left alone', `const s = "${NAME}";`, `const s = "${NAME}";`],
  ['longer module name is left alone', `import { h } from "${NAME}-other";`, `import { h } from "${NAME}-other";`],
  ['sub-path is left alone', `import { h } from "${NAME}/sub";`, `import { h } from "${NAME}/sub";`],
  ['name in a line comment is rewritten too (text match)', `// import { h } from "${NAME}"`, `// import { h } from ${Q}`],
  ['CRLF between from and the name', `import { h } from\r\n"${NAME}"`, `import { h } from\r\n${Q}`],
  ['U+2028 between from and the name', `import { h } from\u2028"${NAME}"`, `import { h } from\u2028${Q}`],
  ['NBSP between import and the name', `import\u00a0"${NAME}"`, `import\u00a0${Q}`],
  ['U+0085 is not whitespace', `import { h } from\u0085"${NAME}"`, `import { h } from\u0085"${NAME}"`],
  ['dot in the name matches only a dot', 'import "a.b"; import "axb";', `import ${Q}; import "axb";`, 'a.b'],
  ['regex metacharacters match literally', 'import x from "(x)+$[a]|^{2}*?"; import "(x)+$[a]|^{2}*"', `import x from ${Q}; import "(x)+$[a]|^{2}*"`, '(x)+$[a]|^{2}*?'],
  ['backslash in the name', "import 'a\\b'; import 'ab'", `import ${Q}; import 'ab'`, 'a\\b'],
  ['quote character in the name', `import 'a"b';`, `import ${Q};`, 'a"b'],
  ['$ patterns in the URL are literal', `import x from "${NAME}"`, `import x from ${JSON.stringify('file:///a/$1/$&/$$/$`/$\'/b')}`, NAME, 'file:///a/$1/$&/$$/$`/$\'/b'],
  ['quotes and backslashes in the URL are JSON-escaped', `import "${NAME}"`, `import ${JSON.stringify('file:///a"b\\c')}`, NAME, 'file:///a"b\\c'],
  ['U+2028 and unicode in the URL', `import "${NAME}"`, `import ${JSON.stringify('file:///tmp/ü\u2028x')}`, NAME, 'file:///tmp/ü\u2028x'],
  ['empty module name rewrites empty specifiers', 'import x from ""; import ""', `import x from ${Q}; import ${Q}`, ''],
  ['empty script', '', ''],
  // `from` is rewritten first, then `import`: the second pass also sees the
  // URL inserted by the first.
  ['URL that itself contains an import of the name (two passes)', 'import x from "h"', 'import x from "import "import \'h\'""', 'h', "import 'h'"],
];

for (const [desc, input, expected, name, url] of REWRITE) {
  test(`rewriteHelperImports: ${desc}`, () => {
    assert.equal(rw(input, name, url), expected);
  });
}

test('rewriteHelperImports: a large source with many imports', () => {
  const line = `import { h } from "${NAME}";\n`;
  const out = rw(line.repeat(5000));
  assert.equal(out, `import { h } from ${Q};\n`.repeat(5000));
});

// ------------------------------------------------------ parity with the seed

// Lone surrogates (UTF-16 code units without their pair) are legal in
// JavaScript strings; the seed's transforms, being plain string operations,
// return them untouched.
const LONE = [
  'export default "\ud800";',
  'return "\udfff" // \ud83d',
];
const LONE_REWRITE = [
  { userScript: `import "${NAME}"; // \ud800`, helperModuleName: NAME, helperUrl: URL },
  { userScript: `import "${NAME}";`, helperModuleName: NAME, helperUrl: 'file:///tmp/\udc00' },
];

let seedCache;
function seedOutputs() {
  if (seedCache) return seedCache;
  const input = {
    normalise: [...NORMALISE.map(([, src]) => src), ...LONE],
    rewrite: [
      ...REWRITE.map(([, userScript, , name = NAME, url = URL]) => ({ userScript, helperModuleName: name, helperUrl: url })),
      ...LONE_REWRITE,
    ],
  };
  const r = spawnSync(findBun(), [path.join(__dirname, 'helpers', 'seed-transforms.mjs')], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120000,
  });
  if (r.status !== 0) throw new Error(`seed transforms failed (status ${r.status}): ${r.stderr || r.error}`);
  const out = JSON.parse(r.stdout);
  seedCache = { input, out };
  return seedCache;
}

function mismatches(inputs, seedOut, ours) {
  const bad = [];
  inputs.forEach((inp, i) => {
    let mine;
    try {
      mine = { value: ours(inp) };
    } catch (err) {
      mine = { threw: String(err && err.message) };
    }
    try {
      assert.deepEqual(mine, seedOut[i]);
    } catch {
      bad.push(`#${i} input ${JSON.stringify(inp).slice(0, 160)}\n    seed: ${JSON.stringify(seedOut[i]).slice(0, 200)}\n    ours: ${JSON.stringify(mine).slice(0, 200)}`);
    }
  });
  return bad;
}

test('normaliseUserScript matches the seed on every input above', (t) => {
  const why = seedUnavailableReason();
  if (why) return t.skip(`cannot compare with the seed: ${why}`);
  const { input, out } = seedOutputs();
  const n = NORMALISE.length;
  const bad = mismatches(input.normalise.slice(0, n), out.normalise.slice(0, n), normaliseUserScript);
  assert.deepEqual(bad, [], `${bad.length}/${n} outputs differ from the seed:\n${bad.join('\n')}`);
});

test('rewriteHelperImports matches the seed on every input above', (t) => {
  const why = seedUnavailableReason();
  if (why) return t.skip(`cannot compare with the seed: ${why}`);
  const { input, out } = seedOutputs();
  const n = REWRITE.length;
  const bad = mismatches(input.rewrite.slice(0, n), out.rewrite.slice(0, n), rewriteHelperImports);
  assert.deepEqual(bad, [], `${bad.length}/${n} outputs differ from the seed:\n${bad.join('\n')}`);
});

test('normaliseUserScript keeps lone surrogates like the seed', (t) => {
  // The first is a module (returned as is), the second is wrapped.
  assert.equal(JSON.stringify(normaliseUserScript(LONE[0])), JSON.stringify(LONE[0]));
  assert.equal(JSON.stringify(normaliseUserScript(LONE[1])), JSON.stringify(wrap(LONE[1])));
  const why = seedUnavailableReason();
  if (why) return t.skip(`checked against the expected text only; cannot compare with the seed: ${why}`);
  const { input, out } = seedOutputs();
  const n = NORMALISE.length;
  const bad = mismatches(input.normalise.slice(n), out.normalise.slice(n), normaliseUserScript);
  assert.deepEqual(bad, [], bad.join('\n'));
});

test('rewriteHelperImports keeps lone surrogates like the seed', (t) => {
  assert.equal(
    JSON.stringify(rewriteHelperImports(LONE_REWRITE[0])),
    JSON.stringify(`import ${Q}; // \ud800`),
  );
  assert.equal(
    JSON.stringify(rewriteHelperImports(LONE_REWRITE[1])),
    JSON.stringify(`import ${JSON.stringify('file:///tmp/\udc00')};`),
  );
  const why = seedUnavailableReason();
  if (why) return t.skip(`checked against the expected text only; cannot compare with the seed: ${why}`);
  const { input, out } = seedOutputs();
  const n = REWRITE.length;
  const bad = mismatches(input.rewrite.slice(n), out.rewrite.slice(n), rewriteHelperImports);
  assert.deepEqual(bad, [], bad.join('\n'));
});
