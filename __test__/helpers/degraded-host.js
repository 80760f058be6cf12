'use strict';

// Started by sandbox-hostile.test.js with SCRIPTCAGE_FORCE_NO_NAMESPACES=1
// (a host whose kernel refuses user namespaces) and a private TMPDIR.
// argv[2] is a directory the scripts write a marker into when they run at
// all. Prints one JSON line with the results of a `standard` and a `strict`
// run of each runner, and what TMPDIR held after each.

const fs = require('node:fs');
const path = require('node:path');
const { scriptcage } = require('./common.js');

const markDir = process.argv[2];
const tmp = process.env.TMPDIR;

function tmpEntries() {
  return fs.readdirSync(tmp);
}

function children() {
  const pids = [];
  for (const task of fs.readdirSync('/proc/self/task')) {
    try {
      pids.push(...fs.readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    } catch {
      // gone
    }
  }
  return pids;
}

(async () => {
  const out = { capabilities: scriptcage.sandboxCapabilities(), runs: {} };
  // strict first: in a fresh host, so nothing (not even a warm pool
  // process) exists yet that a refused run could be confused with.
  for (const profile of ['strict', 'standard']) {
    scriptcage.configureSandbox({ profile });
    const shellMark = path.join(markDir, `shell-${profile}`);
    const esmMark = path.join(markDir, `esm-${profile}`);
    // Started and not awaited, so the process list is checked while the
    // run would be alive if it had been spawned.
    const pendingShell = scriptcage.runShellScript({
      script: `touch ${shellMark}; echo ran; id -u; sleep 1`,
      timeoutMs: 20000,
    });
    const childrenDuringShell = children();
    const shell = await pendingShell;
    const afterShell = tmpEntries();
    const pendingEsm = scriptcage.runEsmScript({
      script: `import fs from 'node:fs'; fs.writeFileSync(${JSON.stringify(esmMark)}, 'x'); export default () => process.getuid();`,
      timeoutMs: 20000,
    });
    const childrenDuringEsm = children();
    const esm = await pendingEsm;
    const afterEsm = tmpEntries();
    out.runs[profile] = {
      shell,
      esm,
      shellMarked: fs.existsSync(shellMark),
      esmMarked: fs.existsSync(esmMark),
      childrenDuringShell,
      childrenDuringEsm,
      tmpAfterShell: afterShell,
      tmpAfterEsm: afterEsm,
      childrenAfter: children(),
    };
  }
  scriptcage.configureSandbox({ profile: 'standard' });
  process.stdout.write(`${JSON.stringify(out)}\n`);
})().catch((e) => {
  process.stdout.write(`${JSON.stringify({ crash: String(e && e.stack ? e.stack : e) })}\n`);
  process.exitCode = 1;
});
