'use strict';

// The ESM runner's entry points: `require('scriptcage')` and
// `import('scriptcage')` (self-reference by package name, which goes through
// package.json "exports") expose the same functions, and the two module
// systems share one sandbox policy (no dual-package state).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const { repoRoot, RUNTIME } = require('./helpers/env.js');

const FUNCTIONS = [
  'runEsmScript',
  'normaliseUserScript',
  'rewriteHelperImports',
  'configureSandbox',
  'getSandboxPolicy',
  'sandboxCapabilities',
];

function checkSurface(mod, how) {
  for (const name of FUNCTIONS) {
    assert.equal(typeof mod[name], 'function', `${how}: ${name} is a function`);
  }
  assert.equal(typeof mod.defaultEsmScriptRunner, 'object', `${how}: defaultEsmScriptRunner`);
  assert.equal(typeof mod.defaultEsmScriptRunner.run, 'function', `${how}: defaultEsmScriptRunner.run`);
}

test(`require('scriptcage') exposes the ESM runner API (${RUNTIME})`, () => {
  const cjs = require('scriptcage');
  checkSurface(cjs, "require('scriptcage')");
  assert.equal(cjs, require(path.join(repoRoot, 'js', 'index.js')), 'the package name resolves to js/index.js');
});

test(`import('scriptcage') exposes the ESM runner API as named exports (${RUNTIME})`, async () => {
  const esm = await import('scriptcage');
  checkSurface(esm, "import('scriptcage')");
  const cjs = require('scriptcage');
  for (const name of [...FUNCTIONS, 'defaultEsmScriptRunner']) {
    assert.equal(esm[name], cjs[name], `${name} is the same object in both module systems`);
  }
  assert.ok(esm.default, 'there is a default export');
  assert.equal(esm.default.runEsmScript, cjs.runEsmScript);
});

test('the ESM file entry point is importable by path too', async () => {
  const esm = await import(pathToFileURL(path.join(repoRoot, 'js', 'index.mjs')).href);
  checkSurface(esm, 'js/index.mjs');
});

test('a run works through the ESM import and through defaultEsmScriptRunner', async () => {
  const esm = await import('scriptcage');
  const a = await esm.runEsmScript({ script: 'export default (c) => c.n + 1;', context: { n: 1 }, timeoutMs: 30000 });
  assert.equal(a.result, 2, JSON.stringify(a));
  const b = await esm.defaultEsmScriptRunner.run({ script: 'return context.n * 3;', context: { n: 2 }, timeoutMs: 30000 });
  assert.equal(b.result, 6, JSON.stringify(b));
  assert.equal(esm.defaultEsmScriptRunner.run, esm.runEsmScript);
});

test('the sandbox policy is shared between require and import', async () => {
  const esm = await import('scriptcage');
  const cjs = require('scriptcage');
  try {
    esm.configureSandbox({ profile: 'off' });
    assert.equal(cjs.getSandboxPolicy().enabled, false, 'set through import, seen through require');
    cjs.configureSandbox({ profile: 'standard' });
    assert.equal(esm.getSandboxPolicy().enabled, true, 'set through require, seen through import');
  } finally {
    cjs.configureSandbox({ profile: 'standard' });
  }
});
