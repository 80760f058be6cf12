'use strict';

// The command line (api.md §6): bin/scriptcage.js on the examples, on temp
// files and on stdin; exit codes 0 / 1 / 2, JSON on stdout, usage on stderr.
// Runs under `node --test` and `bun test`: the CLI is started with the
// current runtime (process.execPath), so under Bun both the CLI and the
// scripts it runs are Bun.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cli = path.join(root, 'bin', 'scriptcage.js');
const examples = path.join(root, 'examples');
const HELPER = '@checkstack/healthcheck:defineHealthCheck';

/** The environment for the CLI: the host's, without a sandbox override. */
function cliEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.SCRIPTCAGE_SANDBOX;
  return env;
}

/**
 * Runs the CLI asynchronously (so a server in this process can answer the
 * script) and resolves with its exit code and output.
 */
function runCli(args, { input, cwd = root, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not finish within ${timeoutMs} ms: ${args.join(' ')}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the CLI may exit before reading stdin
    child.stdin.end(input === undefined ? '' : input);
  });
}

/** Runs the CLI and parses its stdout as JSON; checks the exit code. */
async function runJson(args, expectedCode, options) {
  const r = await runCli(args, options);
  assert.equal(r.code, expectedCode, `exit code of scriptcage ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^\{\n {2}"/, 'pretty-printed JSON object');
  return JSON.parse(r.stdout);
}

/** Asserts a bad-usage outcome: exit 2, nothing on stdout, one line on stderr. */
async function assertUsageError(args, pattern, options) {
  const r = await runCli(args, options);
  assert.equal(r.code, 2, `exit code of scriptcage ${args.join(' ')}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, '', `no stdout for scriptcage ${args.join(' ')}`);
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 2, `one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.equal(lines[1], '');
  assert.match(lines[0], /^scriptcage: /);
  assert.match(lines[0], /usage: scriptcage run <file\.mjs\|->/);
  if (pattern) assert.match(lines[0], pattern);
}

/** A temp directory removed by the returned function. */
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-cli-test-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Starts an HTTP server on 127.0.0.1; `/status/<n>` answers with status n. */
async function startServer() {
  const server = http.createServer((req, res) => {
    const m = /^\/status\/(\d{3})$/.exec(req.url);
    res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'text/plain' });
    res.end('scriptcage test server\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A TCP port on 127.0.0.1 with nothing listening (bound, then released). */
async function closedPort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('scriptcage CLI: help and usage', () => {
  test('--help prints the usage on stdout and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^usage: scriptcage run <file\.mjs\|-> \[--context <json>\] \[--timeout <ms>\] \[--shell\] \[--sandbox off\|standard\|strict\]/);
      for (const opt of ['--context', '--timeout', '--shell', '--sandbox', '--helper', '--env', 'Exit status']) {
        assert.ok(r.stdout.includes(opt), `help mentions ${opt}`);
      }
    }
  });

  test('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${require('../package.json').version}\n`);
  });

  test('bad usage exits 2 with a one-line message on stderr', async () => {
    const script = path.join(examples, 'disk-check.mjs');
    await assertUsageError([], /missing command/);
    await assertUsageError(['exec', script], /unknown command "exec"/);
    await assertUsageError(['run'], /missing script file/);
    await assertUsageError(['run', script, 'extra'], /unexpected argument "extra"/);
    await assertUsageError(['run', script, '--bogus'], /unknown option --bogus/);
    await assertUsageError(['run', script, '-x'], /unknown option -x/);
    await assertUsageError(['run', script, '--context', '{bad'], /--context is not valid JSON/);
    await assertUsageError(['run', script, '--context'], /--context needs a value/);
    await assertUsageError(['run', script, '--timeout', '0'], /--timeout must be a positive number/);
    await assertUsageError(['run', script, '--timeout', '-5'], /--timeout must be a positive number/);
    await assertUsageError(['run', script, '--timeout', 'abc'], /--timeout must be a positive number/);
    await assertUsageError(['run', script, '--timeout=Infinity'], /--timeout must be a positive number/);
    await assertUsageError(['run', script, '--sandbox', 'paranoid'], /--sandbox must be one of off, standard, strict/);
    await assertUsageError(['run', script, '--helper', 'nocolon'], /--helper must be <module>:<function>/);
    await assertUsageError(['run', script, '--helper', 'mod:not-an-identifier'], /--helper must be/);
    await assertUsageError(['run', script, '--env', 'NOEQUALS'], /--env must be KEY=VALUE/);
    await assertUsageError(['run', script, '--shell=yes'], /--shell takes no value/);
    await assertUsageError(['run', script, '--shell', '--context', '{}'], /--context applies to ES modules/);
    await assertUsageError(['run', path.join(examples, 'does-not-exist.mjs')], /cannot read .*does-not-exist\.mjs \(ENOENT\)/);
    await assertUsageError(['run', examples], /cannot read .*\(EISDIR\)/);
  });
});

describe('scriptcage CLI: examples', () => {
  test('http-check.mjs reports a reachable URL as ok with status and latency', async () => {
    const server = await startServer();
    try {
      const out = await runJson(
        // The server is on the host's loopback, which a standard run cannot reach (docs/network.md).
        ['run', path.join(examples, 'http-check.mjs'), '--sandbox', 'off', '--context', JSON.stringify({ url: `${server.url}/health` })],
        0,
      );
      assert.equal(out.timedOut, false);
      assert.equal(out.error, undefined);
      assert.equal(out.result.ok, true);
      assert.equal(out.result.status, 200);
      assert.equal(typeof out.result.latencyMs, 'number');
      assert.ok(out.result.latencyMs >= 0);
      assert.equal(out.result.url, `${server.url}/health`);
      assert.equal(typeof out.sandbox, 'object');

      // A failing status is a result too: the check ran (exit 0), ok is false.
      const bad = await runJson(
        ['run', path.join(examples, 'http-check.mjs'), '--sandbox', 'off', '--context', JSON.stringify({ url: `${server.url}/status/503` })],
        0,
      );
      assert.equal(bad.result.ok, false);
      assert.equal(bad.result.status, 503);
      assert.match(bad.result.error, /503/);
    } finally {
      await server.close();
    }
  });

  test('http-check.mjs turns a network failure into { ok: false, error }', async () => {
    const port = await closedPort();
    const started = Date.now();
    const out = await runJson(
      ['run', path.join(examples, 'http-check.mjs'), '--context', JSON.stringify({ url: `http://127.0.0.1:${port}/` })],
      0,
    );
    assert.equal(out.result.ok, false);
    assert.equal(typeof out.result.error, 'string');
    assert.ok(out.result.error.length > 0);
    assert.equal(out.result.status, undefined);
    assert.ok(Date.now() - started < 30000, 'a refused connection is reported promptly');
  });

  test('http-check.mjs bounds a server that never answers by its timeoutMs', async () => {
    const sockets = new Set();
    const server = http.createServer(() => {}); // never responds
    server.on('connection', (s) => sockets.add(s));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${server.address().port}/`;
      const out = await runJson(['run', path.join(examples, 'http-check.mjs'), '--sandbox', 'off', '--context', JSON.stringify({ url, timeoutMs: 300 })], 0);
      assert.equal(out.result.ok, false);
      assert.match(out.result.error, /300 ms/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('disk-check.mjs (legacy return style) reports disk, memory and uptime', async () => {
    const out = await runJson(['run', path.join(examples, 'disk-check.mjs')], 0);
    const r = out.result;
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.problems, []);
    assert.equal(typeof r.memory.freeBytes, 'number');
    assert.ok(r.memory.totalBytes > 0);
    assert.equal(typeof r.uptimeSeconds, 'number');
    assert.equal(r.loadAverage.length, 3);
    assert.ok(r.disk === null || r.disk.totalBytes >= r.disk.freeBytes);

    const low = await runJson(
      ['run', path.join(examples, 'disk-check.mjs'), '--context', JSON.stringify({ minFreeMemBytes: Number.MAX_SAFE_INTEGER })],
      0,
    );
    assert.equal(low.result.ok, false);
    assert.ok(low.result.problems.some((p) => /memory/.test(p)), JSON.stringify(low.result.problems));
  });

  test('helper-check.mjs runs with --helper <module>:<function>', async () => {
    const file = path.join(examples, 'helper-check.mjs');
    const fresh = new Date(Date.now() - 5000).toISOString();
    const out = await runJson(
      ['run', file, '--helper', HELPER, '--context', JSON.stringify({ service: 'billing', lastHeartbeat: fresh, maxAgeSeconds: 300 })],
      0,
    );
    assert.equal(out.result.ok, true, JSON.stringify(out.result));
    assert.equal(out.result.service, 'billing');
    assert.ok(out.result.ageSeconds >= 0 && out.result.ageSeconds < 300);

    const stale = await runJson(
      ['run', file, `--helper=${HELPER}`, '--context', JSON.stringify({ service: 'billing', lastHeartbeat: '2000-01-01T00:00:00Z' })],
      0,
    );
    assert.equal(stale.result.ok, false);
    assert.equal(stale.result.maxAgeSeconds, 300);

    // A check that throws is a script error: exit 1 with its message.
    const thrown = await runJson(['run', file, '--helper', HELPER, '--context', '{}'], 1);
    assert.equal(thrown.result, undefined);
    assert.match(thrown.error, /context\.service must be a non-empty string/);
    assert.equal(typeof thrown.stack, 'string');

    // Without the helper the import does not resolve: a script error.
    const missing = await runJson(['run', file, '--context', '{}'], 1);
    assert.match(missing.error, /@checkstack\/healthcheck/);
  });

  test('check.sh runs with --shell; a non-zero exit code exits 1', async () => {
    const file = path.join(examples, 'check.sh');
    const out = await runJson(['run', file, '--shell'], 0);
    assert.equal(out.exitCode, 0, JSON.stringify(out));
    assert.equal(out.timedOut, false);
    assert.match(out.stdout, /disk used: \d+% \(max 95%\)/);
    assert.match(out.stdout, /healthy$/);

    const failing = await runJson(['run', file, '--shell', '--env', 'MAX_DISK_USED_PERCENT=-1'], 1);
    assert.equal(failing.exitCode, 1, JSON.stringify(failing));
    assert.match(failing.stderr, /above -1%/);
  });
});

describe('scriptcage CLI: files, stdin, options', () => {
  test('a relative file path resolves against the working directory', async () => {
    const { dir, cleanup } = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'check.mjs'), 'export default (ctx) => ({ sum: ctx.a + ctx.b });\n');
      const out = await runJson(['run', 'check.mjs', '--context', '{"a":2,"b":3}'], 0, { cwd: dir });
      assert.deepEqual(out.result, { sum: 5 });
      assert.equal(out.stdout, '');
      assert.equal(out.timedOut, false);
    } finally {
      cleanup();
    }
  });

  test('the default context is {} and the script sees it', async () => {
    const out = await runJson(['run', '-'], 0, { input: 'export default (ctx) => ({ ctx, global: globalThis.context });\n' });
    assert.deepEqual(out.result, { ctx: {}, global: {} });
  });

  test('- reads an ES module from stdin; console output is captured', async () => {
    const out = await runJson(['run', '-'], 0, { input: 'console.log("hello from stdin");\nreturn 6 * 7;\n' });
    assert.equal(out.result, 42);
    assert.equal(out.stdout, 'hello from stdin');
  });

  test('a thrown error exits 1 with error and stack', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'broken.mjs');
      fs.writeFileSync(file, 'export default async () => { throw new Error("database unreachable"); };\n');
      const out = await runJson(['run', file], 1);
      assert.equal(out.error, 'database unreachable');
      assert.match(out.stack, /database unreachable/);
      assert.equal(out.timedOut, false);
      assert.equal('result' in out, false);
    } finally {
      cleanup();
    }
  });

  test('--timeout ends a script that never settles: exit 1, timedOut', async () => {
    const started = Date.now();
    const out = await runJson(['run', '-', '--timeout', '400'], 1, {
      input: 'export default await new Promise(() => setInterval(() => {}, 1000));\n',
    });
    assert.equal(out.timedOut, true);
    assert.equal(out.error, 'Script execution timed out');
    assert.equal(out.stdout, '');
    assert.ok(Date.now() - started < 20000);
  });

  test('- with --shell reads a shell script from stdin; exit code is reported', async () => {
    const ok = await runJson(['run', '-', '--shell'], 0, { input: 'echo "up"; echo "warn" >&2\n' });
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.stdout, 'up');
    assert.equal(ok.stderr, 'warn');

    const failed = await runJson(['run', '-', '--shell'], 1, { input: 'echo partial; exit 3\n' });
    assert.equal(failed.exitCode, 3, JSON.stringify(failed));
    assert.equal(failed.stdout, 'partial');

    const timedOut = await runJson(['run', '-', '--shell', '--timeout', '300'], 1, { input: 'sleep 30\n' });
    assert.equal(timedOut.timedOut, true);
    assert.equal(timedOut.exitCode, -1);
  });

  test('--env reaches the script', async () => {
    const out = await runJson(['run', '-', '--env', 'CHECK_TARGET=db-1', '--env', 'EMPTY='], 0, {
      input: 'return { target: process.env.CHECK_TARGET, empty: process.env.EMPTY };\n',
    });
    assert.deepEqual(out.result, { target: 'db-1', empty: '' });
  });

  test('--sandbox selects the profile reported in the result', async () => {
    const script = 'return 1;\n';
    const off = await runJson(['run', '-', '--sandbox', 'off'], 0, { input: script });
    assert.equal(off.result, 1);
    assert.equal(off.sandbox.requested.enabled, false);
    assert.deepEqual(off.sandbox.enforced, { resources: false, filesystem: false, network: false, privilege: false });

    const standard = await runJson(['run', '-', '--sandbox=standard'], 0, { input: script });
    assert.equal(standard.sandbox.requested.enabled, true);
    assert.equal(standard.sandbox.requested.network.mode, 'unrestricted');

    // strict refuses to run when a layer is unavailable (exit 1 then).
    const strict = await runCli(['run', '-', '--sandbox', 'strict'], { input: script });
    const out = JSON.parse(strict.stdout);
    assert.equal(out.sandbox.requested.network.mode, 'deny');
    assert.equal(out.sandbox.requested.onUnavailable, 'fail');
    if (out.sandbox.downgrades.length === 0) {
      assert.equal(strict.code, 0, strict.stdout);
      assert.equal(out.result, 1);
    } else {
      assert.equal(strict.code, 1);
      assert.equal(typeof out.error, 'string');
    }
  });

  test('--sandbox off runs the shell without the sandbox', async () => {
    const out = await runJson(['run', '-', '--shell', '--sandbox', 'off'], 0, { input: 'echo ok\n' });
    assert.equal(out.exitCode, 0, JSON.stringify(out));
    assert.equal(out.stdout, 'ok');
    assert.equal(out.sandbox.requested.enabled, false);
  });

  test('a result JSON.stringify drops still counts as a result (exit 0)', async () => {
    const out = await runJson(['run', '-'], 0, { input: 'export default () => () => 1;\n' });
    assert.equal('result' in out, false);
    assert.equal(out.error, undefined);
  });
});
