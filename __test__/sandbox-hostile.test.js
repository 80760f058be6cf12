'use strict';

// Hostile scripts against the OS sandbox (sandbox.md, "Attacks the
// project's own tests must contain"). Every attack is run under the
// profiles it applies to, and each test asserts that
//   - the attack failed (or, under `off`, succeeded where sandbox.md says
//     `off` does not contain it: that proves the probe can see a breach),
//   - the `sandbox.enforced` claim of the run matches what the attack saw,
//   - the host is healthy afterwards: the next trivial run works, no process
//     is left over, host memory stayed bounded.
//
// ESM attacks run in the current runtime (node under `node --test`, bun
// under `bun test`). Shell attacks are POSIX sh (dash).
//
// Runs under `node --test` and `bun test`, as root and (through
// unprivileged.test.js) as an unprivileged user.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const path = require('node:path');

const {
  root,
  scriptcage,
  IS_BUN,
  IS_ROOT,
  RUNTIME,
  MiB,
  token,
  uniqueSleep,
  useProfile: useProfileBase,
  restoreDefaultPolicy,
  findProcesses,
  assertNoProcess,
  isAlive,
  withRssProbe,
  tempDir,
  removeTree,
  delay,
  within,
  sh,
  esm,
  assertHostHealthy,
} = require('./helpers/common.js');

const CONTAINED = ['standard', 'strict'];

// ESM attacks run against pre-started pooled processes (the default) and
// against cold starts: a pooled run must hold every guarantee a cold one
// does (performance.md, "The warm pool").
const HAS_POOL = typeof scriptcage.configureRunner === 'function';
const DEFAULT_WARM = HAS_POOL ? scriptcage.configureRunner({}).warmProcesses : 0;
const RUNNERS = HAS_POOL ? ['warm pool', 'cold'] : ['cold'];

function useRunner(runner) {
  if (!HAS_POOL) return;
  scriptcage.configureRunner({ warmProcesses: runner === 'cold' ? 0 : Math.max(DEFAULT_WARM, 1) });
}
const ALL = ['off', 'standard', 'strict'];
const LONG = { timeout: 180000 };

/** Host processes this file started (sleepers, helper hosts), by pid. */
const started = new Set();

function startSleeper(env = {}) {
  const arg = uniqueSleep();
  const child = spawn('sleep', [arg], { stdio: 'ignore', env: { ...process.env, ...env } });
  started.add(child);
  return { child, pid: child.pid, marker: arg };
}

function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  started.delete(child);
}

/** Runs `file` with the current runtime; resolves with its last JSON line. */
function runHelper(file, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'helpers', file), ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} hung; stderr:\n${stderr}`));
    }, 120000);
    child.on('close', (code) => {
      clearTimeout(timer);
      started.delete(child);
      const line = stdout.trim().split('\n').pop() || '';
      try {
        const parsed = JSON.parse(line);
        if (parsed.crash) return reject(new Error(`${file} crashed: ${parsed.crash}\n${stderr}`));
        resolve(parsed);
      } catch {
        reject(new Error(`${file} exited ${code} without a result:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** An environment for helper hosts: this one, minus test-runner plumbing. */
function helperEnv(extra) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.SCRIPTCAGE_SANDBOX;
  delete env.SCRIPTCAGE_FORCE_NO_NAMESPACES;
  return { ...env, ...extra };
}

function expectEnforced(r, layer, value) {
  assert.equal(
    r.sandbox.enforced[layer],
    value,
    `sandbox.enforced.${layer} is ${r.sandbox.enforced[layer]} but the attack ${value ? 'failed' : 'succeeded'}`,
  );
}

const useProfile = useProfileBase;

after(async () => {
  for (const child of [...started]) stop(child);
  restoreDefaultPolicy();
  if (HAS_POOL) {
    scriptcage.configureRunner({ warmProcesses: DEFAULT_WARM });
    // No idle pooled process outlives this file's tests.
    await scriptcage.closeRunner();
  }
});

describe('hostile: reading the host environment through /proc', () => {
  let report;
  let secret;
  let sleeper;

  before(async () => {
    secret = `host-env-secret-${token()}`;
    // A long-running host process with the secret in its start-up
    // environment, and a stand-in host application started the same way.
    sleeper = startSleeper({ SCRIPTCAGE_TEST_HOST_SECRET: secret });
    report = await runHelper('proc-env-host.js', [JSON.stringify(ALL)], helperEnv({ SCRIPTCAGE_TEST_HOST_SECRET: secret }));
  });

  after(() => {
    if (sleeper) stop(sleeper.child);
  });

  test('the stand-in host really carries the secret in /proc/self/environ', () => {
    assert.equal(report.secretInOwnEnviron, true);
  });

  for (const profile of CONTAINED) {
    test(`[${profile}] parent, pid 1 and a scan of every pid do not reveal the host's environment`, LONG, () => {
      const { shell, esm: e } = report.results[profile];
      assert.ok(!JSON.stringify(shell).includes(secret), `shell probe found the secret:\n${shell.stdout}`);
      assert.ok(!JSON.stringify(e).includes(secret), `ESM probe found the secret: ${JSON.stringify(e)}`);
      assert.equal(shell.exitCode, 0, shell.stderr);
      assert.match(shell.stdout, /^ppid=1$/m, 'the script\'s parent is the run\'s own init (pid 1)');
      assert.equal(e.error, undefined, e.error);
      assert.deepEqual(e.result.scan, []);
      // A private PID namespace: a handful of processes, none of the host's.
      assert.ok(e.result.pids <= 10, `the script sees ${e.result.pids} processes`);
      const scanned = Number(/scanned=(\d+)/.exec(shell.stdout)[1]);
      assert.ok(scanned <= 10, `the shell sees ${scanned} processes`);
      expectEnforced(shell, 'filesystem', true);
      expectEnforced(e, 'filesystem', true);
    });
  }

  test('[off] the same probes do find the secret (the probe can see a breach)', LONG, () => {
    const { shell, esm: e } = report.results.off;
    assert.ok(shell.stdout.includes(secret), `shell scan did not find the secret under off:\n${shell.stdout}`);
    assert.ok(e.result.scan.some((l) => l.includes(secret)), `ESM scan did not find the secret under off: ${JSON.stringify(e.result)}`);
    // The supervising init is the helper executable, started with an empty
    // environment: even where the script may read it (off, as root), it
    // holds nothing of the host's (in the first round it was a copy of the
    // host and did).
    assert.ok(!JSON.stringify(e.result.parent).includes(secret), `parent environ under off: ${JSON.stringify(e.result.parent)}`);
    expectEnforced(shell, 'filesystem', false);
  });

  test('host still healthy', LONG, async () => {
    restoreDefaultPolicy();
    await assertHostHealthy();
    assert.ok(isAlive(sleeper.pid), 'the host sleeper died');
  });
});

describe('hostile: fork bomb', () => {
  for (const profile of CONTAINED) {
    test(`[${profile}] a dash fork bomb hits the process limit, the run ends, the host can spawn`, LONG, async () => {
      useProfile(profile);
      const marker = `bomb-${token()}`;
      // Valid dash syntax (checked with sh -n below): each call pipes two
      // copies of itself, in the background.
      const bomb = `f() { f | f & }; f; sleep 1; echo survived # ${marker}`;
      execFileSync('/bin/sh', ['-n', '-c', bomb]);
      const r = await sh(bomb, { timeoutMs: 30000 });
      assert.equal(r.timedOut, false, 'the bomb ran into the timeout instead of the process limit');
      assert.match(r.stderr, /fork/i, `no fork failure: the process limit did not bite:\n${r.stderr.slice(0, 500)}`);
      expectEnforced(r, 'resources', true);
      assertNoProcess(marker, `[${profile}] fork bomb`);
      // The host can still start processes, directly and through scriptcage.
      assert.equal(execFileSync('/bin/sh', ['-c', 'echo host-spawn-ok']).toString().trim(), 'host-spawn-ok');
      await assertHostHealthy();
    });
  }
});

describe('hostile: disk fill', () => {
  const LIMIT = 8 * MiB;
  for (const profile of CONTAINED) {
    test(`[${profile}] big files in the scratch dir and /tmp stop at maxFileSizeBytes`, LONG, async () => {
      useProfile(profile, { resources: { maxFileSizeBytes: LIMIT } });
      try {
        const r = await sh(
          `head -c 67108864 /dev/zero > big; echo "cwd=$(wc -c < big)"
           head -c 67108864 /dev/zero > /tmp/big; echo "tmp=$(wc -c < /tmp/big)"
           rm -f big /tmp/big
           i=0; while [ $i -lt 24 ]; do head -c 1048576 /dev/zero > "f$i" 2>/dev/null; head -c 1048576 /dev/zero > "/tmp/f$i" 2>/dev/null; i=$((i+1)); done
           echo "many=$(cat f* | wc -c)"; echo "manytmp=$(cat /tmp/f* | wc -c)"`,
          { timeoutMs: 60000 },
        );
        assert.equal(r.timedOut, false);
        const n = (k) => Number(new RegExp(`^${k}=\\s*(\\d+)$`, 'm').exec(r.stdout)[1]);
        assert.ok(n('cwd') <= LIMIT, `a ${n('cwd')}-byte file in the scratch dir`);
        assert.ok(n('tmp') <= LIMIT, `a ${n('tmp')}-byte file in /tmp`);
        assert.ok(n('many') <= LIMIT, `${n('many')} bytes in many files in the scratch dir`);
        assert.ok(n('manytmp') <= LIMIT, `${n('manytmp')} bytes in many files in /tmp`);
        expectEnforced(r, 'resources', true);
      } finally {
        restoreDefaultPolicy();
      }
      await assertHostHealthy();
    });

    test(`[${profile}] a big file in a caller's cwd stops at maxFileSizeBytes`, LONG, async () => {
      useProfile(profile, { resources: { maxFileSizeBytes: LIMIT } });
      const dir = tempDir('fill', 0o777);
      try {
        const r = await sh('head -c 67108864 /dev/zero > big; echo done', { cwd: dir, timeoutMs: 60000 });
        assert.equal(r.stdout, 'done');
        assert.ok(fs.statSync(path.join(dir, 'big')).size <= LIMIT);
      } finally {
        removeTree(dir);
        restoreDefaultPolicy();
      }
    });
  }
});

for (const runner of RUNNERS) {
  // Every test below starts with useProfile(): it also selects the runner.
  const useProfile = (profile, extra) => {
    useRunner(runner);
    return useProfileBase(profile, extra);
  };

  describe(`hostile: reading a secret file outside the scratch directory (${runner})`, () => {
    let dir;
    let secretFile;
    let repoSecret;
    const secret = `file-secret-${token()}`;

    before(() => {
      dir = tempDir('secret', 0o755);
      secretFile = path.join(dir, 'secret.txt');
      fs.writeFileSync(secretFile, secret, { mode: 0o644 });
      fs.chmodSync(secretFile, 0o644);
      // A secret in the host application's own directory (the repo), when
      // this user may write there.
      const candidate = path.join(root, `.scriptcage-hostile-secret-${token()}`);
      try {
        fs.writeFileSync(candidate, secret, { mode: 0o644 });
        fs.chmodSync(candidate, 0o644);
        repoSecret = candidate;
      } catch {
        repoSecret = undefined;
      }
    });

    after(() => {
      removeTree(dir);
      if (repoSecret) fs.rmSync(repoSecret, { force: true });
    });

    const targets = () => [secretFile, repoSecret, path.join(root, 'package.json'), __filename].filter(Boolean);

    for (const profile of ALL) {
      test(`[${profile}] shell and ESM reads of host files`, LONG, async () => {
        useProfile(profile);
        const files = targets();
        const script = files
          .map((f) => `if cat ${JSON.stringify(f)} >/dev/null 2>&1; then echo "READ ${f}"; cat ${JSON.stringify(f)} | head -c 200; echo; fi`)
          .concat([
            `cat ../../../../../../${secretFile} 2>/dev/null && echo TRAVERSAL`,
            `cat /proc/1/root${secretFile} 2>/dev/null && echo PROCROOT`,
            'for d in /work /root /home /var /run /srv /opt /mnt; do [ -e "$d" ] && echo "EXISTS $d"; done; true',
          ])
          .join('\n');
        const r = await sh(script);
        const e = await esm(
          `import fs from 'node:fs';
           export default (ctx) => ctx.files.map((f) => { try { return 'READ ' + fs.readFileSync(f, 'utf8').slice(0, 200); } catch (err) { return 'ERR ' + err.code; } });`,
          { context: { files } },
        );
        assert.equal(e.error, undefined, e.error);
        if (profile === 'off') {
          assert.ok(r.stdout.includes(secret), `under off the secret file is readable: ${r.stdout}`);
          assert.ok(e.result[0].includes(secret));
          expectEnforced(r, 'filesystem', false);
          return;
        }
        assert.ok(!r.stdout.includes(secret), `shell read the secret:\n${r.stdout}`);
        assert.doesNotMatch(r.stdout, /READ |TRAVERSAL|PROCROOT/);
        assert.doesNotMatch(r.stdout, /EXISTS/, `host directories are visible:\n${r.stdout}`);
        for (const line of e.result) assert.match(line, /^ERR /, `ESM read a host file: ${line}`);
        assert.ok(!JSON.stringify(e.result).includes(secret));
        expectEnforced(r, 'filesystem', true);
        expectEnforced(e, 'filesystem', true);
        await assertHostHealthy();
      });
    }

    test('the repo secret part ran (skipped only when the repo is not writable)', (t) => {
      if (!repoSecret) {
        t.skip(`cannot create a file in ${root} as uid ${process.getuid()}: the repo-secret probe was left out`);
        return;
      }
      assert.ok(fs.existsSync(repoSecret));
    });
  });

  describe(`hostile: writing outside the scratch directory (${runner})`, () => {
    for (const profile of ALL) {
      test(`[${profile}] writes outside the scratch dir do not reach the host`, LONG, async () => {
        useProfile(profile);
        const dir = tempDir('write', 0o777);
        const tag = token();
        const hostTargets = [path.join(dir, `pwned-${tag}`)];
        if (profile !== 'off') {
          // Under `off` a root script could really write these: only probed
          // where the sandbox claims to stop it.
          hostTargets.push(path.join(root, `.scriptcage-pwned-${tag}`), `/etc/scriptcage-pwned-${tag}`, `/usr/scriptcage-pwned-${tag}`, `/scriptcage-pwned-${tag}`);
        }
        const privateTmp = `/tmp/scriptcage-private-${tag}`;
        try {
          const script = hostTargets
            .map((f) => `echo pwned > ${JSON.stringify(f)} 2>/dev/null && echo "WROTE ${f}"`)
            .concat([`echo private > ${privateTmp} && echo "WROTE-TMP"`, 'echo scratch > in-scratch && echo WROTE-SCRATCH', 'true'])
            .join('\n');
          const r = await sh(script);
          const e = await esm(
            `import fs from 'node:fs';
             export default (ctx) => ctx.files.map((f) => { try { fs.writeFileSync(f + '-esm', 'pwned'); return 'WROTE ' + f; } catch (err) { return 'ERR ' + err.code; } });`,
            { context: { files: hostTargets } },
          );
          assert.equal(e.error, undefined, e.error);
          const written = hostTargets.flatMap((f) => [f, `${f}-esm`]).filter((f) => fs.existsSync(f));
          if (profile === 'off') {
            assert.deepEqual(written.sort(), [hostTargets[0], `${hostTargets[0]}-esm`].sort(), 'under off the script writes where the host can');
            expectEnforced(r, 'filesystem', false);
            fs.rmSync(privateTmp, { force: true });
            return;
          }
          assert.deepEqual(written, [], `the script wrote host files: ${written}`);
          assert.doesNotMatch(r.stdout, /WROTE \//);
          assert.match(r.stdout, /WROTE-TMP/, 'its private /tmp is writable');
          assert.match(r.stdout, /WROTE-SCRATCH/, 'its scratch directory is writable');
          assert.ok(!fs.existsSync(privateTmp), 'the private /tmp is the host\'s /tmp');
          for (const line of e.result) assert.match(line, /^ERR /);
          expectEnforced(r, 'filesystem', true);
          // Nothing written inside survives into the next run.
          const next = await sh(`cat ${privateTmp} 2>/dev/null || echo gone`);
          assert.equal(next.stdout, 'gone');
          await assertHostHealthy();
        } finally {
          removeTree(dir);
          for (const f of hostTargets) {
            for (const g of [f, `${f}-esm`]) {
              if (!g.startsWith(dir)) {
                try {
                  fs.rmSync(g, { force: true });
                } catch {
                  // never created
                }
              }
            }
          }
        }
      });
    }

    // A runtime, a staging parent or a resolution root under /tmp (as with
    // a checkout cloned under /tmp) appears in the run's private /tmp as a
    // chain of directories leading to its mount point. Those directories
    // mirror host paths, so they are read-only: a write there would land in
    // the private copy and look, from inside, like a write to the host path.
    // Pinned here with a resolution root under /tmp, whatever the path of
    // this checkout; with `inherit` a root host's script owns them.
    for (const profile of CONTAINED) {
      for (const privilege of ['drop-to-uid', 'inherit']) {
        test(`[${profile}, privilege ${privilege}] directories that exist only on the way to a mount point are read-only`, LONG, async () => {
          useProfile(profile, { privilege: { mode: privilege } });
          const rr = fs.realpathSync(fs.mkdtempSync('/tmp/scriptcage-test-mountpoint-'));
          try {
            fs.chmodSync(rr, 0o755);
            fs.mkdirSync(path.join(rr, 'node_modules'));
            fs.mkdirSync(path.join(rr, 'work'));
            fs.chmodSync(path.join(rr, 'work'), 0o777);
            const tag = token();
            const targets = [path.join(rr, `pwned-${tag}`), path.join(rr, 'node_modules', `pwned-${tag}`), `/dev/pwned-${tag}`];
            const e = await esm(
              `import fs from 'node:fs';
               export default (ctx) => ctx.files.map((f) => { try { fs.writeFileSync(f, 'pwned'); return 'WROTE ' + f; } catch (err) { return 'ERR ' + err.code; } })
                 .concat((() => { try { fs.writeFileSync('/tmp/ok-' + ctx.tag, 'x'); return ['TMP-OK']; } catch (err) { return ['TMP ' + err.code]; } })());`,
              { context: { files: targets, tag }, resolutionRoot: rr },
            );
            assert.equal(e.error, undefined, e.error);
            assert.deepEqual(e.result.slice(0, 3).map((l) => l.split(' ')[0]), ['ERR', 'ERR', 'ERR'], JSON.stringify(e.result));
            assert.equal(e.result[3], 'TMP-OK', 'the private /tmp stays writable');
            expectEnforced(e, 'filesystem', true);
            // The shell runner with a caller's cwd under /tmp: the cwd is
            // bound read-write, the directory around it is not.
            const r = await sh(`echo x > ../pwned-${tag} 2>/dev/null && echo WROTE-PARENT; echo x > inside-${tag} && echo WROTE-CWD`, { cwd: path.join(rr, 'work') });
            assert.equal(r.stdout, 'WROTE-CWD', r.stderr);
            assert.ok(fs.existsSync(path.join(rr, 'work', `inside-${tag}`)), 'the cwd is the host directory');
            for (const f of targets) assert.ok(!fs.existsSync(f), `${f} reached the host`);
            assert.ok(!fs.existsSync(path.join(rr, `pwned-${tag}`)));
          } finally {
            removeTree(rr);
            restoreDefaultPolicy();
          }
        });
      }
    }
  });

  describe(`hostile: a grandchild that survives via setsid + detach (${runner})`, () => {
    for (const profile of ALL) {
      test(`[${profile}] shell: setsid, nohup and a double fork are gone when the run ends`, LONG, async () => {
        useProfile(profile);
        const s = uniqueSleep();
        const r = await sh(
          `setsid sh -c 'trap "" HUP TERM INT; sleep ${s}' </dev/null >/dev/null 2>&1 &
           ( setsid sleep ${s} </dev/null >/dev/null 2>&1 & ) &
           nohup sleep ${s} >/dev/null 2>&1 &
           sleep 0.3; echo detached`,
        );
        assert.equal(r.exitCode, 0, r.stderr);
        assert.equal(r.stdout, 'detached');
        assertNoProcess(s, `[${profile}] detached grandchildren`);
        await assertHostHealthy();
      });

      test(`[${profile}] ESM (${RUNTIME}): a detached, unref'd child is gone when the run ends`, LONG, async () => {
        useProfile(profile);
        const s = uniqueSleep();
        const r = await esm(
          `import { spawn } from 'node:child_process';
           export default async () => {
             const c = spawn('setsid', ['sh', '-c', 'trap "" HUP TERM; sleep ${s}'], { detached: true, stdio: 'ignore' });
             c.unref();
             const d = spawn('sleep', ['${s}'], { detached: true, stdio: 'ignore' });
             d.unref();
             await new Promise((res) => setTimeout(res, 300));
             return 'detached';
           };`,
        );
        assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
        assert.equal(r.result, 'detached');
        assertNoProcess(s, `[${profile}] detached ESM children`);
      });
    }
  });

  describe(`hostile: SIGTERM ignored past the timeout (${runner})`, () => {
    for (const profile of ALL) {
      test(`[${profile}] shell ignoring TERM/HUP/INT (with a child that ignores them too) ends at the timeout`, LONG, async () => {
        useProfile(profile);
        const s = uniqueSleep();
        const r = await sh(`trap '' TERM HUP INT; sh -c "trap '' TERM HUP INT; sleep ${s}" & while :; do sleep ${s}; done`, { timeoutMs: 800 });
        assert.deepEqual(
          { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut },
          { exitCode: -1, stdout: '', stderr: 'Script execution timed out', timedOut: true },
        );
        assertNoProcess(s, `[${profile}] TERM-ignoring script`);
        await assertHostHealthy();
      });

      test(`[${profile}] ESM (${RUNTIME}) ignoring SIGTERM ends at the timeout`, LONG, async () => {
        useProfile(profile);
        const s = uniqueSleep();
        const r = await esm(
          `import { spawn } from 'node:child_process';
           process.on('SIGTERM', () => {});
           process.on('SIGINT', () => {});
           spawn('sh', ['-c', "trap '' TERM; sleep ${s}"], { stdio: 'ignore' });
           setInterval(() => {}, 1000);
           await new Promise(() => {});`,
          { timeoutMs: 1500 },
        );
        assert.equal(r.timedOut, true);
        assert.equal(r.error, 'Script execution timed out');
        assertNoProcess(s, `[${profile}] TERM-ignoring ESM script`);
      });
    }
  });

  describe(`hostile: memory bomb (${RUNTIME}) (${runner})`, () => {
    const bombs = {
      'Buffers': `const a = []; for (let i = 0; i < 64; i++) a.push(Buffer.alloc(64 * 1024 * 1024, 1)); return a.length;`,
      'typed arrays': `const a = []; for (let i = 0; i < 64; i++) a.push(new Uint8Array(64 * 1024 * 1024).fill(1)); return a.length;`,
      'the JS heap': `const a = []; for (;;) a.push(new Array(100000).fill(Math.random()));`,
      'JS strings': `const a = []; for (;;) a.push('x'.repeat(1e6) + Math.random());`,
    };

    // 256 MiB (set explicitly) and 512 MiB (the standard profile's default):
    // the second one separates "the runtime cannot even start under the
    // limit" from "the limit is not named in the error".
    for (const limitMiB of [256, 512]) {
      const LIMIT = limitMiB * MiB;
      for (const profile of CONTAINED) {
        test(`[${profile}] a trivial script still runs under memoryBytes ${limitMiB} MiB`, LONG, async () => {
          useProfile(profile, { resources: { memoryBytes: LIMIT } });
          try {
            const r = await esm('return 1 + 1');
            assert.equal(r.error, undefined, `a trivial ${RUNTIME} script fails under a ${limitMiB} MiB limit: ${String(r.error).slice(0, 300)}`);
            assert.equal(r.result, 2);
          } finally {
            restoreDefaultPolicy();
          }
        });

        for (const [name, script] of Object.entries(bombs)) {
          test(`[${profile}] ${name} under ${limitMiB} MiB: the run ends with an error naming the memory limit`, LONG, async () => {
            useProfile(profile, { resources: { memoryBytes: LIMIT } });
            let r;
            let growth;
            try {
              ({ value: r, growth } = await withRssProbe(() => esm(script, { timeoutMs: 60000 })));
            } finally {
              restoreDefaultPolicy();
            }
            // Health first, so a wrong message does not hide a sick host.
            await assertHostHealthy();
            assert.ok(growth < 50 * MiB, `host RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
            assert.equal(r.timedOut, false);
            assert.equal(r.result, undefined, `the bomb completed: ${r.result}`);
            expectEnforced(r, 'resources', true);
            assert.match(String(r.error), /memory limit/i, `error does not name the memory limit: ${String(r.error).slice(0, 400)}`);
          });
        }
      }
    }
  });

  describe(`hostile: 1 GiB output flood (${runner})`, () => {
    for (const profile of ALL) {
      test(`[${profile}] shell flood: truncated at 5 MiB, host memory bounded`, LONG, async () => {
        useProfile(profile);
        const { value: r, growth } = await withRssProbe(() => sh('yes | head -c 1073741824; echo end', { timeoutMs: 120000 }));
        assert.equal(r.outputTruncated, true);
        assert.equal(r.timedOut, false);
        assert.ok(Buffer.byteLength(r.stdout) <= 5 * MiB);
        assert.ok(!r.stdout.endsWith('end'));
        assert.ok(growth < 50 * MiB, `host RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
        await assertHostHealthy();
      });

      test(`[${profile}] ESM (${RUNTIME}) flood: truncated at 5 MiB, error names the limit`, LONG, async () => {
        useProfile(profile);
        const { value: r, growth } = await withRssProbe(() =>
          esm(
            `const b = Buffer.alloc(1 << 20, 97);
             for (let i = 0; i < 1024; i++) process.stdout.write(b);
             return 'finished';`,
            { timeoutMs: 120000 },
          ),
        );
        assert.equal(r.outputTruncated, true);
        assert.equal(r.result, undefined);
        assert.match(String(r.error), /output/i);
        assert.ok(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr) <= 5 * MiB);
        assert.ok(growth < 50 * MiB, `host RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
      });
    }
  });

  describe(`hostile: network (${runner})`, () => {
    let tcpServer;
    let port;
    let sockDir;
    let sockPath;
    let unixServer;
    let abstractServer;
    const abstractName = `scriptcage-test-${token()}`;

    before(async () => {
      tcpServer = http.createServer((req, res) => res.end('host-http-ok'));
      await new Promise((res) => tcpServer.listen(0, '127.0.0.1', res));
      port = tcpServer.address().port;
      sockDir = tempDir('sock', 0o777);
      sockPath = path.join(sockDir, 's.sock');
      unixServer = net.createServer((c) => c.end('host-unix-ok'));
      await new Promise((res) => unixServer.listen(sockPath, res));
      fs.chmodSync(sockPath, 0o777);
      abstractServer = net.createServer((c) => c.end('host-abstract-ok'));
      await new Promise((res, rej) => {
        abstractServer.once('error', rej);
        abstractServer.listen(`\0${abstractName}`, res);
      });
    });

    after(async () => {
      for (const s of [tcpServer, unixServer, abstractServer]) {
        if (s) await new Promise((res) => s.close(() => res()));
      }
      removeTree(sockDir);
    });

    const probe = `
      import net from 'node:net';
      const connect = (target) => new Promise((res) => {
        const c = net.connect(target);
        let data = '';
        const t = setTimeout(() => { c.destroy(); res('TIMEOUT'); }, 3000);
        c.on('data', (d) => (data += d));
        c.on('end', () => { clearTimeout(t); res(data); });
        c.on('error', (e) => { clearTimeout(t); res('ERR ' + e.code); });
      });
      export default async (ctx) => {
        let http;
        try {
          const r = await fetch('http://127.0.0.1:' + ctx.port + '/', { signal: AbortSignal.timeout(3000) });
          http = await r.text();
        } catch (e) {
          http = 'ERR ' + ((e.cause && e.cause.code) || e.code || e.name);
        }
        return { http, unix: await connect(ctx.sockPath), abstract: await connect('\\0' + ctx.abstractName) };
      };`;

    for (const profile of ALL) {
      test(`[${profile}] loopback TCP, host unix socket, abstract unix socket`, LONG, async () => {
        useProfile(profile);
        // The probe itself works from the host's side.
        const r = await esm(probe, { context: { port, sockPath, abstractName } });
        assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
        const { http: httpResult, unix, abstract } = r.result;
        const brokered = profile === 'standard' && r.sandbox.enforced.network;
        if (profile === 'strict' || brokered) {
          // deny, or the broker's own namespace with the host's loopback refused.
          assert.match(httpResult, /^ERR|^TIMEOUT/, `TCP to the host's loopback reached the server under ${profile}: ${httpResult}`);
          assert.match(abstract, /^ERR|^TIMEOUT/, `abstract socket reachable under ${profile}: ${abstract}`);
          assert.equal(r.sandbox.requested.network.mode, profile === 'strict' ? 'deny' : 'unrestricted');
          expectEnforced(r, 'network', true);
        } else {
          // no sandbox (off): the host network; standard without the broker: a
          // downgrade (the host network, or loopback only), said so.
          if (profile === 'off') {
            assert.equal(httpResult, 'host-http-ok');
            assert.equal(abstract, 'host-abstract-ok', 'abstract sockets live in the network namespace, shared when unrestricted');
          } else {
            // denyLinkLocalAndMetadata is asked for and the host's loopback answered: not in force, said so.
            assert.equal(r.sandbox.requested.network.denyLinkLocalAndMetadata, true);
            expectEnforced(r, 'network', false);
            const d = r.sandbox.downgrades.find((x) => x.layer === 'network');
            assert.ok(d && /metadata/.test(d.reason) && /loopback/.test(d.reason), JSON.stringify(r.sandbox.downgrades));
          }
        }
        if (profile === 'off') {
          assert.equal(unix, 'host-unix-ok', 'under off the host\'s unix socket is reachable');
          expectEnforced(r, 'filesystem', false);
        } else {
          assert.match(unix, /^ERR|^TIMEOUT/, `host unix socket reachable: ${unix}`);
          expectEnforced(r, 'filesystem', true);
        }
        await assertHostHealthy();
      });
    }
  });

  describe(`hostile: killing a host process by pid (${runner})`, () => {
    for (const profile of ALL) {
      test(`[${profile}] ESM process.kill and shell kill -9 on a host pid`, LONG, async () => {
        useProfile(profile);
        const victim = startSleeper();
        const victim2 = startSleeper();
        try {
          const r = await esm(
            `export default (ctx) => { try { process.kill(ctx.pid, 'SIGKILL'); return 'sent'; } catch (e) { return 'ERR ' + e.code; } };`,
            { context: { pid: victim.pid } },
          );
          const s = await sh(`kill -9 ${victim2.pid} && echo sent || echo failed`);
          await delay(200);
          if (profile === 'off') {
            assert.equal(r.result, 'sent');
            assert.equal(isAlive(victim.pid), false, 'under off the script can kill a host process of its uid');
            expectEnforced(r, 'privilege', false);
            return;
          }
          assert.match(r.result, /^ERR/, `process.kill returned ${r.result}`);
          assert.equal(s.stdout, 'failed');
          assert.equal(isAlive(victim.pid), true, 'the ESM script killed a host process');
          assert.equal(isAlive(victim2.pid), true, 'the shell script killed a host process');
          expectEnforced(r, 'privilege', true);
        } finally {
          stop(victim.child);
          stop(victim2.child);
        }
        await assertHostHealthy();
      });
    }
  });

  describe(`hostile: privilege (${runner})`, () => {
    for (const profile of ALL) {
      test(`[${profile}] ${IS_ROOT ? 'root host: /etc/shadow unreadable, script not root' : 'unprivileged host: the script keeps the uid'}; no capabilities; no_new_privs`, LONG, async () => {
        useProfile(profile);
        const r = await sh(
          `id -u
           if cat /etc/shadow >/dev/null 2>&1; then echo SHADOW-READ; else echo SHADOW-DENIED; fi
           grep -E '^(CapEff|CapPrm|NoNewPrivs):' /proc/self/status`,
        );
        assert.equal(r.exitCode, 0, r.stderr);
        const uid = Number(r.stdout.split('\n')[0]);
        const field = (k) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(r.stdout)[1];
        const e = await esm(
          `import fs from 'node:fs';
           export default () => { try { fs.readFileSync('/etc/shadow'); return 'READ'; } catch (e) { return 'ERR ' + e.code; } };`,
        );
        if (profile === 'off') {
          if (IS_ROOT) {
            assert.match(r.stdout, /SHADOW-READ/, 'under off a root host\'s script reads /etc/shadow');
            assert.equal(e.result, 'READ');
          }
          assert.equal(uid, process.getuid());
          expectEnforced(r, 'privilege', false);
          return;
        }
        assert.match(r.stdout, /SHADOW-DENIED/);
        assert.match(e.result, /^ERR/);
        assert.equal(field('CapEff'), '0000000000000000');
        assert.equal(field('CapPrm'), '0000000000000000');
        assert.equal(field('NoNewPrivs'), '1');
        if (IS_ROOT) {
          assert.notEqual(uid, 0, 'the script runs as root');
        } else {
          assert.equal(uid, process.getuid(), 'an unprivileged host\'s script keeps its uid');
          assert.ok(
            r.sandbox.notes.some((n) => n.layer === 'privilege' && /keeps uid/.test(n.note)),
            `no privilege note for an unprivileged host: ${JSON.stringify(r.sandbox.notes)}`,
          );
        }
        expectEnforced(r, 'privilege', true);
      });
    }
  });
}

describe('degraded host (SCRIPTCAGE_FORCE_NO_NAMESPACES=1)', () => {
  let report;
  let markDir;
  let tmp;

  before(async () => {
    markDir = tempDir('mark', 0o777);
    tmp = tempDir('degraded-tmp', 0o777);
    report = await runHelper('degraded-host.js', [markDir], helperEnv({ SCRIPTCAGE_FORCE_NO_NAMESPACES: '1', TMPDIR: tmp }));
  });

  after(() => {
    removeTree(markDir);
    removeTree(tmp);
  });

  test('the capability probe reports no user namespaces (simulated)', () => {
    assert.equal(report.capabilities.userNamespaces, false);
    assert.equal(report.capabilities.simulated, true);
    assert.ok(report.capabilities.userNamespacesReason);
  });

  test('standard runs degraded: downgrades listed, filesystem not enforced, scripts still run', () => {
    const { shell, esm: e, shellMarked, esmMarked, tmpAfterShell, tmpAfterEsm } = report.runs.standard;
    assert.equal(shell.exitCode, 0, shell.stderr);
    assert.match(shell.stdout, /^ran\n\d+$/);
    assert.equal(e.error, undefined, e.error);
    assert.equal(typeof e.result, 'number');
    for (const r of [shell, e]) {
      assert.equal(r.sandbox.enforced.filesystem, false);
      assert.ok(r.sandbox.downgrades.some((d) => d.layer === 'filesystem' && d.reason.length > 0), JSON.stringify(r.sandbox.downgrades));
      assert.equal(r.sandbox.requested.onUnavailable, 'degrade');
    }
    // The claim matches reality: without a private view, the host path the
    // script wrote to exists.
    assert.equal(shellMarked, true);
    assert.equal(esmMarked, true);
    // The shell run's per-run directory is gone (ESM runs may leave warm
    // pool processes with their own directories behind, by design).
    assert.deepEqual(tmpAfterShell.filter((n) => n.startsWith('scriptcage-sh-')), []);
    assert.deepEqual(tmpAfterEsm.filter((n) => n.startsWith('scriptcage-sh-')), []);
    if (IS_ROOT) {
      // Privilege still holds without namespaces: the script is not root.
      assert.notEqual(Number(shell.stdout.split('\n')[1]), 0);
      assert.notEqual(e.result, 0);
    }
  });

  test('strict refuses without spawning or writing anything', () => {
    const { shell, esm: e, shellMarked, esmMarked, tmpAfterShell, tmpAfterEsm, childrenAfter } = report.runs.strict;
    assert.equal(shell.exitCode, -1);
    assert.equal(shell.stdout, '');
    assert.equal(shell.timedOut, false);
    assert.match(shell.stderr, /unavailable|fail/i);
    assert.equal(e.result, undefined);
    assert.match(String(e.error), /unavailable|fail/i);
    for (const r of [shell, e]) {
      assert.ok(r.sandbox.downgrades.length > 0);
      assert.equal(r.sandbox.requested.onUnavailable, 'fail');
      // The reason carries every downgrade.
      const reason = (r.stderr || '') + (r.error || '');
      for (const d of r.sandbox.downgrades) assert.ok(reason.includes(d.reason), `reason ${reason} lacks ${d.reason}`);
    }
    assert.equal(shellMarked, false, 'the refused shell script ran');
    assert.equal(esmMarked, false, 'the refused ESM script ran');
    assert.deepEqual(tmpAfterShell, [], 'a refused shell run created files in TMPDIR');
    assert.deepEqual(tmpAfterEsm, [], 'a refused ESM run created files in TMPDIR');
    assert.deepEqual(childrenAfter, [], 'refused runs left child processes (a warm pool started?)');
  });
});
