// Computes the seed's normaliseUserScript / rewriteHelperImports outputs.
// Executed with Bun (the seed imports "bun"). Reads
// {"normalise": [source...], "rewrite": [{userScript, helperModuleName, helperUrl}...]}
// as JSON on stdin and prints
// {"normalise": [output...], "rewrite": [output...]} as JSON on stdout
// (an output is {"value": string} or {"threw": message}).

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const seedPath = path.join(here, '..', '..', '..', 'shared', 'seed', 'esm-script-runner.original.ts');
const seed = await import(pathToFileURL(seedPath).href);

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const attempt = (fn) => {
  try {
    return { value: fn() };
  } catch (err) {
    return { threw: String(err && err.message) };
  }
};

const out = {
  normalise: input.normalise.map((src) => attempt(() => seed.normaliseUserScript(src))),
  rewrite: input.rewrite.map((args) => attempt(() => seed.rewriteHelperImports(args))),
};
process.stdout.write(JSON.stringify(out));
