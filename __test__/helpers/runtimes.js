'use strict';

// The two runtimes as binaries for child processes, whichever one runs the
// test file: a Node that is really Node (under Bun, `node` on PATH may be
// Bun's shim) and the Bun dev dependency.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const IS_BUN = typeof process.versions.bun === 'string';

/** A `node` that is Node (not Bun's shim): the host under Node, else from PATH; undefined if none. */
function findNode() {
  if (!IS_BUN) return process.execPath;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, 'node');
    if (!dir || !fs.existsSync(candidate)) continue;
    const r = spawnSync(candidate, ['-p', 'typeof process.versions.bun'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'undefined') return candidate;
  }
  return undefined;
}

/** The Bun binary: the host under Bun, else the `bun` dev dependency; undefined if it does not run. */
function findBun() {
  if (IS_BUN) return process.execPath;
  const local = path.join(root, 'node_modules', '.bin', 'bun');
  if (!fs.existsSync(local)) return undefined;
  const r = spawnSync(local, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? local : undefined;
}

module.exports = { IS_BUN, findNode, findBun };
