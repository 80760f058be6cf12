// Runs the differential corpus through the seed ESM runner. Executed with
// Bun (the seed imports "bun"). Prints one JSON line per case, as soon as
// the case settles: {"index": i, "outcome": <helpers/outcome.js record>}.
// Optional argv: the case indices to run (default: all).

import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const seedPath = path.join(repoRoot, '..', 'shared', 'seed', 'esm-script-runner.original.ts');

const require = createRequire(import.meta.url);
const { cases, optionsOf } = require('../corpus/esm-cases.js');
const { settle } = require('./outcome.js');

const { defaultEsmScriptRunner } = await import(pathToFileURL(seedPath).href);

const wanted = process.argv.slice(2).map(Number);
const indices = wanted.length > 0 ? wanted : cases.map((_, i) => i);

function emit(line) {
  return new Promise((resolve, reject) => {
    process.stdout.write(line + '\n', (err) => (err ? reject(err) : resolve()));
  });
}

for (const index of indices) {
  const outcome = await settle(() => defaultEsmScriptRunner.run(optionsOf(cases[index])));
  await emit(JSON.stringify({ index, outcome }));
}
