'use strict';

// Cross-builds the package's native artifacts for the non-host targets in
// package.json's `napi.targets` (today aarch64-unknown-linux-gnu) and puts
// them in the package root beside the host's, where `npm pack` picks them up.
//
//   node scripts/cross-build.js                 every non-host target
//   node scripts/cross-build.js <triple>...     just these
//   node scripts/cross-build.js --check         report what is missing, build nothing
//   SCRIPTCAGE_SKIP_CROSS=1                     skip (e.g. `npm pack` on a machine without the toolchain)
//
// It runs the same `napi build --platform --release` as the host build, so
// whatever that builds (the addon, any further crate of the package, any
// `[[bin]]`) is cross-built too, in its own target directory
// (target/cross) so the host build's cache is never touched. Toolchain, per
// target: the default `rustc` if it has the target's standard library
// (rustup users: `rustup target add`), else Debian's `rustc-web` in /usr/bin
// with `libstd-rust-web-dev:<arch>` (scripts/cross-toolchain.sh installs
// it); the GNU cross gcc links. Nothing here runs on install.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const pkg = require('../package.json');
const { platformOfTriple } = require('../js/platform.js');

/** How to link for each cross target: the GNU cross toolchain's prefix. */
const TARGETS = {
  'aarch64-unknown-linux-gnu': { gnuPrefix: 'aarch64-linux-gnu', debianArch: 'arm64' },
};

const TARGET_DIR = path.join(root, 'target', 'cross');

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

function capture(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function hostTriple(rustc) {
  const out = capture(rustc, ['-vV']);
  const m = out && out.match(/^host: (\S+)$/m);
  return m ? m[1] : null;
}

/** A rustc/cargo pair whose sysroot has `triple`'s standard library, or null. */
function toolchainFor(triple) {
  const candidates = [
    { rustc: process.env.RUSTC || 'rustc', cargo: process.env.CARGO || 'cargo' },
    { rustc: '/usr/bin/rustc', cargo: '/usr/bin/cargo' }, // Debian rustc-web / cargo-web
  ];
  for (const c of candidates) {
    const libdir = capture(c.rustc, ['--print', 'target-libdir', '--target', triple]);
    if (!libdir || !fs.existsSync(libdir)) continue;
    if (!fs.readdirSync(libdir).some((f) => f.startsWith('libstd-') && f.endsWith('.rlib'))) continue;
    if (!capture(c.cargo, ['--version'])) continue;
    return c;
  }
  return null;
}

/** What is missing to build `triple`, as sentences; empty when it can be built. */
function missingFor(triple) {
  const spec = TARGETS[triple];
  if (!spec) return [`no cross settings for ${triple} in scripts/cross-build.js`];
  const missing = [];
  if (!toolchainFor(triple)) {
    missing.push(
      `no rustc with the ${triple} standard library (rustup target add ${triple}, or Debian's rustc-web with libstd-rust-web-dev:${spec.debianArch})`,
    );
  }
  if (!which(`${spec.gnuPrefix}-gcc`)) missing.push(`no linker ${spec.gnuPrefix}-gcc (Debian: gcc-${spec.gnuPrefix})`);
  return missing;
}

/** The `[[bin]]` targets of the workspace's packages. */
function binTargets(cargo) {
  const out = capture(cargo, ['metadata', '--no-deps', '--format-version', '1', '--manifest-path', path.join(root, 'Cargo.toml')]);
  if (!out) return [];
  const names = [];
  for (const p of JSON.parse(out).packages) {
    for (const t of p.targets) if (t.kind.includes('bin')) names.push(t.name);
  }
  return names;
}

function build(triple) {
  const spec = TARGETS[triple];
  const tc = toolchainFor(triple);
  const upper = triple.toUpperCase().replace(/-/g, '_');
  const lower = triple.replace(/-/g, '_');
  const out = path.join(TARGET_DIR, 'out', triple);
  fs.mkdirSync(out, { recursive: true });
  const env = {
    ...process.env,
    CARGO: tc.cargo,
    RUSTC: tc.rustc,
    [`CARGO_TARGET_${upper}_LINKER`]: `${spec.gnuPrefix}-gcc`,
    // For build scripts that compile C (the cc crate).
    [`CC_${lower}`]: process.env[`CC_${lower}`] || `${spec.gnuPrefix}-gcc`,
    [`CXX_${lower}`]: process.env[`CXX_${lower}`] || `${spec.gnuPrefix}-g++`,
    [`AR_${lower}`]: process.env[`AR_${lower}`] || `${spec.gnuPrefix}-ar`,
  };
  const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
  // The same build as package.json's `build` script, for another target; the
  // JS loader is the host build's (it covers every platform) and the type
  // definitions go to the output directory, not over native.d.ts.
  const args = [napi, 'build', '--platform', '--release', '--target', triple, '--target-dir', TARGET_DIR];
  args.push('--output-dir', out, '--no-js', '--dts', 'native.d.ts');
  console.error(`scriptcage: cross-building ${triple} with ${tc.cargo} (${capture(tc.rustc, ['--version'])})`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) return false;
  // napi builds the addon's package only; the workspace's executables (the
  // sandbox helper) are built for the same target here.
  const bins = spawnSync(tc.cargo, ['build', '--release', '--workspace', '--bins', '--target', triple, '--target-dir', TARGET_DIR], {
    cwd: root,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (bins.status !== 0) return false;
  const platform = platformOfTriple(triple);
  // Each ships as <name>.<platform>, the addon's naming (the host build must
  // name its own the same way for the two to sit side by side).
  for (const bin of binTargets(tc.cargo)) {
    const built = path.join(TARGET_DIR, triple, 'release', bin);
    if (fs.existsSync(built)) fs.copyFileSync(built, path.join(out, `${bin}.${platform}`));
  }
  // Everything in the output directory except the type definitions ships.
  const shipped = [];
  for (const f of fs.readdirSync(out)) {
    if (f.endsWith('.d.ts')) continue;
    fs.copyFileSync(path.join(out, f), path.join(root, f));
    shipped.push(f);
  }
  if (!shipped.includes(`scriptcage.${platform}.node`)) {
    console.error(`scriptcage: the build produced no scriptcage.${platform}.node`);
    return false;
  }
  console.error(`scriptcage: ${triple} built in ${((Date.now() - started) / 1000).toFixed(0)}s: ${shipped.join(', ')}`);
  return true;
}

function main() {
  const argv = process.argv.slice(2);
  if (process.env.SCRIPTCAGE_SKIP_CROSS === '1') {
    console.error('scriptcage: SCRIPTCAGE_SKIP_CROSS=1: no cross build; a package packed now lacks the non-host binaries');
    return;
  }
  const checkOnly = argv.includes('--check');
  const host = hostTriple(process.env.RUSTC || 'rustc');
  const requested = argv.filter((a) => !a.startsWith('--'));
  const triples = requested.length > 0 ? requested : pkg.napi.targets.filter((t) => t !== host);
  let ok = true;
  for (const triple of triples) {
    const missing = missingFor(triple);
    if (missing.length > 0) {
      console.error(`scriptcage: cannot cross-build ${triple}: ${missing.join('; ')}.`);
      console.error('  Debian/Ubuntu: scripts/cross-toolchain.sh install');
      ok = false;
      continue;
    }
    if (checkOnly) {
      console.error(`scriptcage: ${triple} can be cross-built`);
      continue;
    }
    if (!build(triple)) {
      console.error(`scriptcage: cross build for ${triple} failed`);
      ok = false;
    }
  }
  process.exit(ok ? 0 : 1);
}

if (require.main === module) main();

module.exports = { TARGETS, missingFor, toolchainFor };
