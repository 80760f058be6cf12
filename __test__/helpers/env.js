'use strict';

// Shared facts about the test environment: where the repository, the seed
// and a Bun executable are, and small wrappers the ESM runner tests share.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const repoRoot = path.resolve(__dirname, '..', '..');
const sharedDir = path.join(repoRoot, '..', 'shared');
const seedRunnerPath = path.join(sharedDir, 'seed', 'esm-script-runner.original.ts');
const IS_BUN = typeof process.versions.bun === 'string';
const RUNTIME = IS_BUN ? `bun ${process.versions.bun}` : `node ${process.versions.node}`;

let bunCache;
/** Absolute path of a working Bun executable, or null. */
function findBun() {
  if (bunCache !== undefined) return bunCache;
  const candidates = [];
  if (IS_BUN) candidates.push(process.execPath);
  candidates.push(path.join(repoRoot, 'node_modules', '.bin', 'bun'));
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'bun'));
  }
  bunCache = null;
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
    } catch {
      continue;
    }
    const r = spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 30000 });
    if (r.status === 0) {
      bunCache = c;
      break;
    }
  }
  return bunCache;
}

/**
 * Why the seed cannot be run here, or null when it can (Bun present and
 * ../shared/seed/esm-script-runner.original.ts readable).
 */
function seedUnavailableReason() {
  if (!fs.existsSync(seedRunnerPath)) {
    return `seed runner not found at ${seedRunnerPath} (../shared is absent), so there is no reference to compare against`;
  }
  if (!findBun()) {
    return 'no Bun executable found (node_modules/.bin/bun or PATH); the seed runner only runs under Bun';
  }
  return null;
}

/** The package under test, loaded through its CommonJS entry. */
function scriptcage() {
  return require(path.join(repoRoot, 'js', 'index.js'));
}

/**
 * Runs `fn` with the global sandbox profile set to `profile` and always
 * restores the default (`standard`) afterwards.
 */
async function withProfile(profile, fn) {
  const sc = scriptcage();
  sc.configureSandbox({ profile });
  try {
    return await fn(sc);
  } finally {
    sc.configureSandbox({ profile: 'standard' });
  }
}

/** Drops the fields the seed does not have. */
function seedFields(result) {
  const { sandbox, usage, outputTruncated, ...rest } = result;
  return rest;
}

/**
 * Kills idle pre-started processes (when the package has a warm pool), so
 * that their staging directories do not show up in before/after listings.
 */
async function quiesce() {
  const sc = scriptcage();
  if (typeof sc.closeRunner === 'function') await sc.closeRunner();
}

module.exports = {
  repoRoot,
  sharedDir,
  seedRunnerPath,
  IS_BUN,
  RUNTIME,
  findBun,
  seedUnavailableReason,
  scriptcage,
  withProfile,
  seedFields,
  quiesce,
};
