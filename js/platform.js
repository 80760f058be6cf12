'use strict';

// Which platform this machine is, which platforms the package ships a binary
// for, and the error for a machine that has none. Used by ./native.js before
// it loads the addon; pure apart from reading files, so tests call it with any
// platform name.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.join(__dirname, '..');

/** Rust's architecture names → Node's `process.arch`. */
const ARCH = { x86_64: 'x64', aarch64: 'arm64', armv7: 'arm', i686: 'ia32', riscv64gc: 'riscv64', loongarch64: 'loong64' };

/**
 * The napi platform name (`linux-arm64-gnu`) of a Rust target triple
 * (`aarch64-unknown-linux-gnu`), as `napi build --platform` names the binary.
 */
function platformOfTriple(triple) {
  const [cpu, , os, abi] = triple.split('-');
  const arch = ARCH[cpu] || cpu;
  if (os === 'linux') return `linux-${arch}-${abi && abi.startsWith('musl') ? 'musl' : 'gnu'}`;
  if (os === 'darwin') return `darwin-${arch}`;
  if (os === 'windows') return `win32-${arch}-${abi}`;
  return `${os}-${arch}`;
}

/** The platforms this package ships binaries for: package.json's `napi.targets`. */
function supportedPlatforms() {
  const targets = (require('../package.json').napi || {}).targets || [];
  return targets.map(platformOfTriple);
}

/**
 * The C library on Linux: 'musl' or 'gnu'. Reads /usr/bin/ldd first (cheap);
 * images without it (distroless) fall back to Node's diagnostic report, which
 * names the glibc version only when glibc is loaded.
 */
function linuxLibc() {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl') ? 'musl' : 'gnu';
  } catch {
    // No ldd: ask the runtime.
  }
  try {
    const report = process.report && process.report.getReport();
    if (report && report.header && report.header.glibcVersionRuntime) return 'gnu';
    if (report && Array.isArray(report.sharedObjects) && report.sharedObjects.some((f) => /musl/.test(f))) return 'musl';
  } catch {
    // No report either: assume glibc, as the generated loader does.
  }
  return 'gnu';
}

/** This machine's napi platform name, e.g. `linux-x64-gnu`, `darwin-arm64`. */
function currentPlatform() {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${linuxLibc()}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/**
 * Why this machine cannot load scriptcage, as an Error, or null when the
 * binary for it is in the package. Pure apart from the file check, so it can
 * be called with any platform name.
 */
function unsupportedError(platform, supported, root = PACKAGE_ROOT) {
  const file = `scriptcage.${platform}.node`;
  if (supported.includes(platform)) {
    if (fs.existsSync(path.join(root, file))) return null;
    const error = new Error(
      `scriptcage: the prebuilt binary for ${platform} (${file}) is missing from ${root}; ` +
        'a checkout builds it with `npm run build` (x64) or `npm run build:cross` (arm64), a published package always carries it',
    );
    error.code = 'ERR_SCRIPTCAGE_BINARY_MISSING';
    error.platform = platform;
    error.supportedPlatforms = supported;
    return error;
  }
  const error = new Error(
    `scriptcage: no prebuilt binary for ${platform} (this machine's platform, architecture and C library); ` +
      `supported platforms: ${supported.join(', ')}. See the README's platform table.`,
  );
  error.code = 'ERR_SCRIPTCAGE_UNSUPPORTED_PLATFORM';
  error.platform = platform;
  error.supportedPlatforms = supported;
  return error;
}

module.exports = { platformOfTriple, supportedPlatforms, currentPlatform, linuxLibc, unsupportedError };
