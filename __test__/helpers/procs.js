'use strict';

// Finds processes on this host by a marker, through /proc. A test puts a
// unique marker where it will show: in a process's command line, in the
// environment it was exec'd with (inherited by everything it starts), or as
// its name (a script can write /proc/self/comm).

const fs = require('node:fs');

function readOr(file, fallback) {
  try {
    return fs.readFileSync(file);
  } catch {
    return fallback;
  }
}

/**
 * Live (non-zombie) processes whose cmdline or environ contains `marker`,
 * or whose name (comm) equals `comm`. Returns [{ pid, state, comm, cmdline }].
 */
function findMarked({ marker, comm } = {}) {
  const found = [];
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    if (Number(e) === process.pid) continue;
    const stat = readOr(`/proc/${e}/stat`, null);
    if (!stat) continue; // gone meanwhile
    const s = stat.toString('latin1');
    const state = s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') continue; // dead, only not reaped yet
    const name = readOr(`/proc/${e}/comm`, Buffer.alloc(0)).toString('utf8').trim();
    const cmdline = readOr(`/proc/${e}/cmdline`, Buffer.alloc(0)).toString('utf8');
    let hit = comm !== undefined && name === comm;
    if (!hit && marker !== undefined) {
      hit = cmdline.includes(marker) || readOr(`/proc/${e}/environ`, Buffer.alloc(0)).toString('utf8').includes(marker);
    }
    if (hit) found.push({ pid: Number(e), state, comm: name, cmdline: cmdline.split('\0').join(' ').trim() });
  }
  return found;
}

/** True when /proc can be scanned for other processes' details here. */
function procUsable() {
  try {
    fs.readFileSync('/proc/self/cmdline');
    fs.readFileSync('/proc/self/environ');
    return fs.readdirSync('/proc').some((e) => /^\d+$/.test(e));
  } catch {
    return false;
  }
}

/**
 * Sleeps synchronously. The run's teardown happens in the kernel and in the
 * addon's own threads, so blocking this thread does not hold it up.
 */
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** How long a settled run's processes may take to vanish (a loose bound). */
const TEARDOWN_GRACE_MS = 3000;

/**
 * Polls `ok()` for up to `ms` (synchronously); returns its last value. When
 * an ESM run settles, every process of it has been sent SIGKILL; the
 * kernel's teardown and the reaping finish off the caller's latency
 * (docs/spawn.md), so "gone" is checked with this grace.
 */
function eventually(ok, ms = TEARDOWN_GRACE_MS) {
  const deadline = Date.now() + ms;
  let v = ok();
  while (!v && Date.now() < deadline) {
    sleepSync(10);
    v = ok();
  }
  return v;
}

module.exports = { findMarked, procUsable, eventually, sleepSync, TEARDOWN_GRACE_MS };
