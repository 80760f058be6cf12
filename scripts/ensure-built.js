'use strict';

// Builds the native addon when it is missing or older than its sources.
// Used by `npm test`, `npm run bench` and the CLI's npm script, never by an
// install hook (dependents' install scripts are blocked by Bun and strict npm).

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const binary = path.join(root, `scriptcage.linux-${process.arch}-gnu.node`);
// The sandbox helper executable the addon starts for every run (crates/helper).
const helper = path.join(root, `scriptcage-helper.linux-${process.arch}-gnu`);

function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = 0;
  for (const e of fs.readdirSync(p)) m = Math.max(m, newest(path.join(p, e)));
  return m;
}

function stale() {
  if (!fs.existsSync(binary) || !fs.existsSync(helper)) return true;
  if (!fs.existsSync(path.join(root, 'src'))) return false; // installed package
  const built = Math.min(fs.statSync(binary).mtimeMs, fs.statSync(helper).mtimeMs);
  return ['src', 'crates', 'Cargo.toml', 'build.rs'].some((p) => newest(path.join(root, p)) > built);
}

function buildHelper() {
  const r = spawnSync('cargo', ['build', '--release', '-p', 'scriptcage-helper'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) return false;
  // Copy to a temporary name first: a running host may be executing the old file.
  const tmp = `${helper}.${process.pid}.tmp`;
  fs.copyFileSync(path.join(root, 'target', 'release', 'scriptcage-helper'), tmp);
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, helper);
  return true;
}

function build() {
  return buildAddon() && buildHelper();
}

function buildAddon() {
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
