'use strict';

// Builds the native addon when it is missing or older than its sources.
// Used by `npm test`, `npm run bench` and the CLI's npm script, never by an
// install hook (dependents' install scripts are blocked by Bun and strict npm).

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const binary = path.join(root, `scriptcage.linux-${process.arch}-gnu.node`);

function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = 0;
  for (const e of fs.readdirSync(p)) m = Math.max(m, newest(path.join(p, e)));
  return m;
}

function stale() {
  if (!fs.existsSync(binary)) return true;
  if (!fs.existsSync(path.join(root, 'src'))) return false; // installed package
  const built = fs.statSync(binary).mtimeMs;
  return ['src', 'Cargo.toml', 'build.rs'].some((p) => newest(path.join(root, p)) > built);
}

function build() {
  const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
  console.error('scriptcage: building the native addon (cargo, release)…');
  if (fs.existsSync(napi)) {
    const args = [napi, 'build', '--platform', '--release', '--js', 'index.js', '--dts', 'native.d.ts'];
    return spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] }).status === 0;
  }
  // Without the napi CLI (dev dependencies not installed yet) a plain cargo
  // build gives the same library; the committed index.js loads it.
  const r = spawnSync('cargo', ['build', '--release'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) return false;
  fs.copyFileSync(path.join(root, 'target', 'release', 'libscriptcage.so'), binary);
  return true;
}

if (stale() || process.argv.includes('--force')) {
  if (!build()) {
    console.error('scriptcage: native build failed');
    process.exit(1);
  }
}
