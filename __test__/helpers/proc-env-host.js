'use strict';

// A stand-in for a host application: started by sandbox-hostile.test.js
// with SCRIPTCAGE_TEST_HOST_SECRET in its *start-up* environment (what
// /proc/<pid>/environ shows), it runs scripts that hunt for that secret
// through /proc, under each profile given in argv[2] (JSON array), and
// prints one JSON line with what they found.

const { scriptcage } = require('./common.js');

const NAME = 'SCRIPTCAGE_TEST_HOST_SECRET';

const SHELL_PROBE = `
N=${NAME}
echo "ppid=$PPID"
for f in /proc/$PPID/environ /proc/1/environ /proc/self/environ; do
  tr '\\0' '\\n' < "$f" 2>/dev/null | grep "^$N=" | sed "s|^|$f: |"
done
n=0
for d in /proc/[0-9]*; do
  n=$((n+1))
  tr '\\0' '\\n' < "$d/environ" 2>/dev/null | grep "^$N=" | sed "s|^|scan $d: |"
done
echo "scanned=$n"
`;

const ESM_PROBE = `
import fs from 'node:fs';
export default () => {
  const name = ${JSON.stringify(NAME)} + '=';
  const read = (p) => { try { return fs.readFileSync(p, 'latin1'); } catch (e) { return 'ERR ' + e.code; } };
  const hits = (text) => text.split('\\0').filter((l) => l.startsWith(name));
  const parent = read('/proc/' + process.ppid + '/environ');
  const one = read('/proc/1/environ');
  const pids = fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d));
  const scan = [];
  for (const d of pids) for (const h of hits(read('/proc/' + d + '/environ'))) scan.push(d + ': ' + h);
  return {
    ppid: process.ppid,
    parent: parent.startsWith('ERR ') ? parent : hits(parent),
    pid1: one.startsWith('ERR ') ? one : hits(one),
    scan,
    pids: pids.length,
  };
};
`;

(async () => {
  const profiles = JSON.parse(process.argv[2] || '["off","standard","strict"]');
  const out = { hostPid: process.pid, secretInOwnEnviron: false, results: {} };
  try {
    out.secretInOwnEnviron = require('node:fs').readFileSync('/proc/self/environ', 'latin1').includes(`${NAME}=`);
  } catch {
    // unreadable: reported as false
  }
  for (const profile of profiles) {
    scriptcage.configureSandbox({ profile });
    const shell = await scriptcage.runShellScript({ script: SHELL_PROBE, timeoutMs: 30000 });
    const esm = await scriptcage.runEsmScript({ script: ESM_PROBE, timeoutMs: 30000 });
    out.results[profile] = {
      shell: { exitCode: shell.exitCode, stdout: shell.stdout, stderr: shell.stderr, sandbox: shell.sandbox },
      esm: { result: esm.result, error: esm.error, sandbox: esm.sandbox },
    };
  }
  scriptcage.configureSandbox({ profile: 'standard' });
  process.stdout.write(`${JSON.stringify(out)}\n`);
})().catch((e) => {
  process.stdout.write(`${JSON.stringify({ crash: String(e && e.stack ? e.stack : e) })}\n`);
  process.exitCode = 1;
});
