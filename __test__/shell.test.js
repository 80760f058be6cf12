'use strict';

// The shell runner (api.md §3): `sh -c <script>` with the curated
// environment, exit codes, signals, cwd, scratch directory, timeout and
// abort with tree kill, output budget, lossy decoding, concurrency and
// input validation. The whole suite runs once with the sandbox `off` and
// once under `standard`.
//
// Every script is POSIX sh: Debian's /bin/sh is dash, so bash-only syntax
// would fail for the wrong reason.
//
// Runs under `node --test` and `bun test`.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const {
  scriptcage,
  IS_ROOT,
  MiB,
  token,
  uniqueSleep,
  useProfile,
  restoreDefaultPolicy,
  findProcesses,
  assertNoProcess,
  withRssProbe,
  tempDir,
  removeTree,
  sh,
  within,
} = require('./helpers/common.js');

const { runShellScript } = scriptcage;
const LONG = { timeout: 120000 };

after(() => {
  restoreDefaultPolicy();
});

for (const profile of ['off', 'standard']) {
  describe(`runShellScript (sandbox ${profile})`, () => {
    const use = () => useProfile(profile);

    describe('exit codes and signals', () => {
      for (const code of [0, 1, 42]) {
        test(`exit ${code}`, LONG, async () => {
          use();
          const r = await sh(`echo before; exit ${code}`);
          assert.equal(r.exitCode, code);
          assert.equal(r.stdout, 'before');
          assert.equal(r.timedOut, false);
          assert.equal(r.outputTruncated, undefined);
        });
      }

      test('the shell killed by SIGKILL reports 137', LONG, async () => {
        use();
        const r = await sh('kill -9 $$; echo unreachable');
        assert.equal(r.exitCode, 137);
        assert.equal(r.stdout, '');
        assert.equal(r.timedOut, false);
      });

      test('the shell killed by SIGTERM reports 143', LONG, async () => {
        use();
        const r = await sh('kill -TERM $$; echo unreachable');
        assert.equal(r.exitCode, 143);
        assert.equal(r.stdout, '');
        assert.equal(r.timedOut, false);
      });

      test('the result has exactly the documented keys', LONG, async () => {
        use();
        const r = await sh('echo out; echo err >&2');
        assert.deepEqual(Object.keys(r), ['exitCode', 'stdout', 'stderr', 'timedOut', 'sandbox', 'usage']);
        assert.equal(r.stdout, 'out');
        assert.equal(r.stderr, 'err');
        assert.equal(r.sandbox.requested.enabled, profile !== 'off');
      });
    });

    describe('shell features', () => {
      test('pipes', LONG, async () => {
        use();
        const r = await sh("printf 'b\\na\\nc\\n' | sort | tr -d '\\n'");
        assert.equal(r.exitCode, 0, r.stderr);
        assert.equal(r.stdout, 'abc');
      });

      test('redirects to a file, from a file and to stderr', LONG, async () => {
        use();
        const r = await sh('echo hello > f.txt && cat < f.txt && echo oops >&2 && echo more >> f.txt && wc -l < f.txt');
        assert.equal(r.exitCode, 0, r.stderr);
        assert.equal(r.stdout, 'hello\n2');
        assert.equal(r.stderr, 'oops');
      });

      test('&& and ||', LONG, async () => {
        use();
        const r = await sh('true && echo a; false && echo b; false || echo c; true || echo d; false; echo "status=$?"');
        assert.equal(r.exitCode, 0);
        assert.equal(r.stdout, 'a\nc\nstatus=1');
      });

      test('stdout and stderr are trimmed', LONG, async () => {
        use();
        const r = await sh("printf '\\n  padded  \\n\\n'; printf '\\t e \\n' >&2");
        assert.equal(r.stdout, 'padded');
        assert.equal(r.stderr, 'e');
      });
    });

    describe('environment', () => {
      test('$VAR from the injected env', LONG, async () => {
        use();
        const r = await sh('echo "[$GREETING] [$EMPTY] [${UNSET-unset}]"', {
          env: { GREETING: 'hello world', EMPTY: '' },
        });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.equal(r.stdout, '[hello world] [] [unset]');
      });

      test('an injected value is passed verbatim (no shell expansion)', LONG, async () => {
        use();
        const value = '$(echo pwned) `id` $HOME; \'"\\';
        const r = await sh('printf "%s" "$RAW"', { env: { RAW: value } });
        assert.equal(r.stdout, value);
      });

      test('host secrets are absent from the environment', LONG, async () => {
        use();
        const secret = `host-secret-${token()}`;
        process.env.SCRIPTCAGE_TEST_SECRET = secret;
        process.env.DATABASE_URL = `postgres://user:${secret}@db/prod`;
        try {
          const r = await sh('env; cat /proc/self/environ | tr "\\0" "\\n"');
          assert.equal(r.exitCode, 0, r.stderr);
          assert.ok(!r.stdout.includes(secret), `secret leaked into env:\n${r.stdout}`);
          assert.doesNotMatch(r.stdout, /^SCRIPTCAGE_TEST_SECRET=/m);
          assert.doesNotMatch(r.stdout, /^DATABASE_URL=/m);
          // Only curated host keys, plus what the shell itself sets.
          const allowed = new Set(['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'HOSTNAME', 'SHELL', 'PWD', 'OLDPWD', '_', 'SHLVL']);
          for (const line of r.stdout.split('\n')) {
            const key = line.split('=')[0];
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) continue;
            assert.ok(allowed.has(key), `unexpected variable ${key} in the script's environment`);
          }
        } finally {
          delete process.env.SCRIPTCAGE_TEST_SECRET;
          delete process.env.DATABASE_URL;
        }
      });

      test('forbidden keys are dropped and listed in sandbox.notes', LONG, async () => {
        use();
        const injected = {
          LD_PRELOAD: 'libnothing-preload.so',
          LD_LIBRARY_PATH: '/nowhere-lib',
          LD_AUDIT: 'libnothing-audit.so',
          DYLD_INSERT_LIBRARIES: 'x.dylib',
          DYLD_LIBRARY_PATH: '/nowhere-dyld',
          NODE_OPTIONS: '--require=/nowhere.js',
          BUN_INSTALL: '/nowhere-bun',
          PATH: '/evil-path',
          BUN_CONFIG_REGISTRY: 'http://evil.invalid',
          BUN_CONFIG_NO_VERIFY: '1',
          KEPT: 'yes',
        };
        const r = await sh('env', { env: injected });
        assert.equal(r.exitCode, 0, r.stderr);
        const env = Object.fromEntries(
          r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        assert.equal(env.KEPT, 'yes');
        for (const key of Object.keys(injected)) {
          if (key === 'KEPT') continue;
          if (key === 'PATH') {
            assert.notEqual(env.PATH, '/evil-path', 'PATH was replaced by the injected value');
            continue;
          }
          assert.ok(!(key in env), `${key} reached the script`);
        }
        const notes = r.sandbox.notes.filter((n) => n.layer === 'environment').map((n) => n.note).join('\n');
        for (const key of Object.keys(injected)) {
          if (key === 'KEPT') continue;
          assert.ok(notes.includes(key), `${key} is not listed in sandbox.notes: ${notes}`);
        }
        assert.ok(!notes.includes('KEPT'), 'an allowed key was reported as dropped');
      });
    });

    describe('working directory', () => {
      test('cwd is honoured: reads and writes land in the caller\'s directory', LONG, async () => {
        use();
        // World-writable: under `standard` as root the script runs as an
        // unprivileged uid, and the directory is bound read-write as is.
        const dir = tempDir('cwd', 0o777);
        try {
          fs.writeFileSync(path.join(dir, 'input.txt'), 'from-host', { mode: 0o644 });
          // Without cwd the run does not start there.
          const r = await sh('cat input.txt 2>/dev/null || echo absent');
          assert.equal(r.stdout, 'absent');
          const r2 = await sh('pwd; cat input.txt; echo from-script > output.txt; mkdir sub && echo nested > sub/n.txt', { cwd: dir });
          assert.equal(r2.exitCode, 0, r2.stderr);
          assert.equal(r2.stdout, `${dir}\nfrom-host`);
          assert.equal(fs.readFileSync(path.join(dir, 'output.txt'), 'utf8'), 'from-script\n');
          assert.equal(fs.readFileSync(path.join(dir, 'sub', 'n.txt'), 'utf8'), 'nested\n');
          assert.ok(fs.existsSync(dir), 'the caller\'s cwd must not be removed');
          if (profile === 'standard') {
            assert.equal(r2.sandbox.enforced.filesystem, true);
            // Outside the bound cwd the host filesystem stays invisible.
            const r3 = await sh(`ls ${JSON.stringify(path.dirname(dir))} | grep -c . ; ls -d /work /root /home 2>/dev/null; echo end`, { cwd: dir });
            assert.equal(r3.stdout, `1\nend`, `more than the cwd is visible: ${r3.stdout}`);
          }
        } finally {
          removeTree(dir);
        }
      });

      test('a relative-looking or symlinked cwd resolves to the real directory', LONG, async () => {
        use();
        const dir = tempDir('cwdlink', 0o777);
        const link = `${dir}-link`;
        try {
          fs.symlinkSync(dir, link);
          const r = await sh('pwd -P; echo x > via-link.txt', { cwd: link });
          assert.equal(r.exitCode, 0, r.stderr);
          assert.equal(r.stdout, dir);
          assert.ok(fs.existsSync(path.join(dir, 'via-link.txt')));
        } finally {
          try {
            fs.unlinkSync(link);
          } catch {
            // gone
          }
          removeTree(dir);
        }
      });

      if (profile !== 'off' && IS_ROOT) {
        test('a cwd the script\'s uid cannot enter rejects with a TypeError that names cwd and says why', LONG, async () => {
          use();
          const dir = tempDir('cwd0700', 0o700);
          try {
            const e = await within(30000, runShellScript({ script: 'pwd', timeoutMs: 10000, cwd: dir }), 'run').then(
              (r) => assert.fail(`resolved: ${JSON.stringify(r)}`),
              (err) => err,
            );
            assert.ok(e instanceof TypeError, String(e));
            assert.match(e.message, /^cwd: /);
            assert.match(e.message, /cannot be entered by the script's uid \d+: Permission denied/);
            // The directory is kept, the staging directory is not.
            assert.ok(fs.existsSync(dir));
          } finally {
            removeTree(dir);
          }
        });
      }

      test('cwd "/": a TypeError naming cwd under a sandboxed filesystem, the host root under off', LONG, async () => {
        use();
        const sandboxed = profile !== 'off' && scriptcage.sandboxCapabilities().userNamespaces;
        const run = within(30000, runShellScript({ script: 'pwd', timeoutMs: 10000, cwd: '/' }), 'run');
        if (sandboxed) {
          const e = await run.then((r) => assert.fail(`resolved: ${JSON.stringify(r)}`), (err) => err);
          assert.ok(e instanceof TypeError, String(e));
          assert.match(e.message, /^cwd: "\/" cannot be the working directory of a run with a sandboxed filesystem/);
        } else {
          const r = await run;
          assert.equal(r.exitCode, 0, r.stderr);
          assert.equal(r.stdout, '/');
        }
      });

      test('without cwd: a per-run scratch directory, removed afterwards', LONG, async () => {
        use();
        const r = await sh('pwd; echo data > scratch.txt; ls -A');
        assert.equal(r.exitCode, 0, r.stderr);
        const [scratch, listing] = r.stdout.split('\n');
        assert.ok(path.isAbsolute(scratch), scratch);
        assert.equal(listing, 'scratch.txt', 'the scratch directory starts empty');
        assert.ok(!fs.existsSync(scratch), `scratch directory ${scratch} survived the run`);
        const perRun = path.dirname(scratch);
        if (path.basename(perRun).startsWith('scriptcage')) {
          assert.ok(!fs.existsSync(perRun), `per-run directory ${perRun} survived the run`);
        }
        const again = await sh('pwd; ls -A');
        assert.notEqual(again.stdout.split('\n')[0], scratch, 'two runs shared a scratch directory');
        assert.equal(again.stdout.split('\n').length, 1, `the next run sees files: ${again.stdout}`);
      });

      for (const [how, script, options] of [
        ['a normal exit', 'echo data > f; mkdir d; echo more > d/g', {}],
        ['a failing exit', 'echo data > f; exit 3', {}],
        ['a timeout', 'echo data > f; sleep 30', { timeoutMs: 1000 }],
        ['the output limit', 'echo data > f; yes | head -c 20000000', {}],
      ]) {
        test(`no per-run directory is left after ${how}`, LONG, async () => {
          use();
          // A private TMPDIR for the host: the per-run directory is created
          // there, so what is left over can be listed exactly.
          const tmp = tempDir('tmpdir', 0o755);
          const saved = process.env.TMPDIR;
          process.env.TMPDIR = tmp;
          try {
            await sh(script, options);
            assert.deepEqual(fs.readdirSync(tmp), [], `left in TMPDIR after ${how}`);
          } finally {
            if (saved === undefined) delete process.env.TMPDIR;
            else process.env.TMPDIR = saved;
            removeTree(tmp);
          }
        });
      }
    });

    describe('timeout and abort end the whole tree', () => {
      const cases = {
        'a background job (sleep &)': (s) => `sleep ${s} & sleep ${s}`,
        'nohup in the background': (s) => `nohup sleep ${s} >/dev/null 2>&1 & sleep ${s}`,
        'setsid in a new session': (s) => `setsid sleep ${s} & sleep ${s}`,
        'setsid in the foreground': (s) => `setsid sleep ${s}`,
        'a double fork that detaches': (s) => `( setsid sh -c 'sleep ${s}' </dev/null >/dev/null 2>&1 & ) ; sleep ${s}`,
        'a shell that ignores SIGTERM and HUP': (s) => `trap '' TERM HUP; sleep ${s}; sleep ${s}`,
      };
      for (const [name, build] of Object.entries(cases)) {
        test(`timeout with ${name} leaves no process behind`, LONG, async () => {
          use();
          const s = uniqueSleep();
          const r = await sh(build(s), { timeoutMs: 700 });
          assert.deepEqual(
            { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut },
            { exitCode: -1, stdout: '', stderr: 'Script execution timed out', timedOut: true },
          );
          assertNoProcess(s, `timeout with ${name}`);
        });
      }

      test('a detached grandchild is gone when the script exits normally', LONG, async () => {
        use();
        const s = uniqueSleep();
        const r = await sh(`setsid sleep ${s} & nohup sleep ${s} >/dev/null 2>&1 & ( setsid sleep ${s} & ) ; sleep 0.3; echo started`);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.equal(r.stdout, 'started');
        assertNoProcess(s, 'a normal exit');
      });

      test('AbortSignal ends the run with "Script execution aborted"', LONG, async () => {
        use();
        const s = uniqueSleep();
        const controller = new AbortController();
        const pending = runShellScript({ script: `setsid sleep ${s} & sleep ${s}`, timeoutMs: 60000, signal: controller.signal });
        // Abort once the script is visibly running.
        for (let i = 0; i < 200 && findProcesses(s).length < 2; i++) await new Promise((res) => setTimeout(res, 25));
        controller.abort();
        const r = await within(30000, pending, 'aborted run');
        assert.equal(r.exitCode, -1);
        assert.equal(r.stderr, 'Script execution aborted');
        assert.equal(r.stdout, '');
        assert.equal(r.timedOut, false);
        assertNoProcess(s, 'an abort');
      });

      test('an already aborted signal does not run the script', LONG, async () => {
        use();
        const dir = tempDir('abort', 0o777);
        try {
          const controller = new AbortController();
          controller.abort();
          const r = await within(
            30000,
            runShellScript({ script: `touch ${dir}/ran`, timeoutMs: 10000, signal: controller.signal }),
            'pre-aborted run',
          );
          assert.equal(r.exitCode, -1);
          assert.equal(r.stderr, 'Script execution aborted');
          assert.ok(!fs.existsSync(path.join(dir, 'ran')), 'the script ran despite the aborted signal');
        } finally {
          removeTree(dir);
        }
      });
    });

    describe('output', () => {
      test('a 1 GiB flood is truncated at the budget and does not grow the host', { timeout: 180000 }, async () => {
        use();
        const { value: r, growth } = await withRssProbe(() => sh('yes | head -c 1073741824', { timeoutMs: 120000 }));
        assert.equal(r.outputTruncated, true);
        assert.equal(r.timedOut, false);
        assert.ok(Buffer.byteLength(r.stdout) <= 5 * MiB, `stdout is ${Buffer.byteLength(r.stdout)} bytes`);
        assert.ok(r.stdout.length > MiB, 'the output before the budget is kept');
        assert.match(r.stdout.slice(0, 10), /^y\ny\ny\ny\ny/);
        assert.ok(growth < 50 * MiB, `host RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
      });

      test('stdout and stderr share the budget', LONG, async () => {
        use();
        const r = await sh('yes out | head -c 4194304; yes err | head -c 4194304 >&2; echo never');
        assert.equal(r.outputTruncated, true);
        assert.ok(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr) <= 5 * MiB + 200);
        assert.ok(!r.stdout.includes('never'));
      });

      test('non-UTF-8 output is decoded lossily (U+FFFD)', LONG, async () => {
        use();
        const r = await sh("printf 'a\\377\\376b'; printf 'c\\303' >&2");
        assert.equal(r.exitCode, 0);
        assert.match(r.stdout, /^a\uFFFD+b$/);
        assert.match(r.stderr, /^c\uFFFD$/);
        const utf8 = await sh("printf '\\303\\251t\\303\\251 \\342\\202\\254'");
        assert.equal(utf8.stdout, 'été €');
      });
    });

    test('16 concurrent runs are isolated', LONG, async () => {
      use();
      const values = Array.from({ length: 16 }, (_, i) => `value-${i}-${token()}`);
      const dirs = [];
      const results = await Promise.all(
        values.map((v) =>
          sh('echo "$MINE"; echo "$MINE" > mine.txt; sleep 0.2; cat mine.txt; ls -A | wc -l; pwd', { env: { MINE: v } }),
        ),
      );
      results.forEach((r, i) => {
        assert.equal(r.exitCode, 0, r.stderr);
        const [a, b, count, dir] = r.stdout.split('\n');
        assert.equal(a, values[i]);
        assert.equal(b, values[i], 'another run wrote into this run\'s directory');
        assert.equal(count.trim(), '1');
        dirs.push(dir);
      });
      assert.equal(new Set(dirs).size, 16, 'runs shared a scratch directory');
    });

    describe('input validation', () => {
      const bad = [
        ['a non-string script', { script: 42, timeoutMs: 1000 }, /script/],
        ['a missing script', { timeoutMs: 1000 }, /script/],
        ['timeoutMs 0', { script: 'true', timeoutMs: 0 }, /timeoutMs/],
        ['a negative timeoutMs', { script: 'true', timeoutMs: -5 }, /timeoutMs/],
        ['timeoutMs NaN', { script: 'true', timeoutMs: NaN }, /timeoutMs/],
        ['timeoutMs Infinity', { script: 'true', timeoutMs: Infinity }, /timeoutMs/],
        ['a string timeoutMs', { script: 'true', timeoutMs: '1000' }, /timeoutMs/],
        ['a missing timeoutMs', { script: 'true' }, /timeoutMs/],
        ['a non-string env value', { script: 'true', timeoutMs: 1000, env: { A: 1 } }, /env\.A/],
        ['an env that is not an object', { script: 'true', timeoutMs: 1000, env: 'A=1' }, /env/],
        ['a nonexistent cwd', { script: 'true', timeoutMs: 1000, cwd: `/nonexistent-${token()}/dir` }, /cwd/],
        ['a cwd that is a file', { script: 'true', timeoutMs: 1000, cwd: __filename }, /cwd/],
        ['a non-string cwd', { script: 'true', timeoutMs: 1000, cwd: 7 }, /cwd/],
      ];
      for (const [name, options, field] of bad) {
        test(`${name} rejects with a TypeError naming the field`, async () => {
          use();
          let pending;
          assert.doesNotThrow(() => {
            pending = runShellScript(options);
          }, 'runShellScript threw synchronously');
          assert.ok(pending instanceof Promise);
          await assert.rejects(pending, (e) => {
            assert.ok(e instanceof TypeError, `${e && e.constructor && e.constructor.name}: ${e && e.message}`);
            assert.match(e.message, field);
            return true;
          });
        });
      }

      test('non-object options reject with a TypeError', async () => {
        for (const options of [undefined, null, 'echo hi', 5]) {
          await assert.rejects(runShellScript(options), TypeError);
        }
      });

      test('a nonexistent cwd spawns nothing', async () => {
        use();
        const s = uniqueSleep();
        await assert.rejects(runShellScript({ script: `sleep ${s}`, timeoutMs: 5000, cwd: `/nonexistent-${token()}` }), TypeError);
        assert.deepEqual(findProcesses(s), []);
      });
    });
  });
}
