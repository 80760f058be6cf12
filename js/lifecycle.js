'use strict';

// The host's end: staging directories of runs in flight and idle pooled
// processes go with it, however it ends (see docs/reliability.md).
//
// - `exit` (process.exit(), the loop running dry, and under Node an
//   uncaught exception): clean up.
// - SIGTERM, SIGINT, SIGHUP: a listener is installed, but it acts only when
//   it is the process's only listener for that signal, i.e. when the host
//   would have died of the signal by default. It then cleans up, removes
//   itself (the default disposition comes back) and sends the signal again,
//   so the host still dies of that signal, with the same status its parent
//   sees. A host with its own listener keeps its own semantics: the
//   clean-up happens on the `exit` that its handler eventually causes.
// - An uncaught exception with no `uncaughtException` handler (the host is
//   about to die): clean up from `uncaughtExceptionMonitor`, which does not
//   count as a handler.
//
// Directories left by a host that was killed with SIGKILL are removed by
// the next host's first run (src/staging.rs).

const native = require('../index.js');

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];
let installed = false;
let cleaned = false;

function cleanup() {
  if (cleaned) return;
  cleaned = true;
  try {
    native.hostExitCleanupNative();
  } catch {
    // Exiting: nothing useful to report.
  }
}

function onSignal(signal) {
  if (process.listenerCount(signal) > 1) return;
  cleanup();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

function onUncaught() {
  if (process.listenerCount('uncaughtException') === 0) cleanup();
}

/** Installs the hooks (once, at the first run). */
function installExitHooks() {
  if (installed) return;
  installed = true;
  process.on('exit', cleanup);
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('uncaughtExceptionMonitor', onUncaught);
}

module.exports = { installExitHooks };
