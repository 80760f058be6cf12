'use strict';

// Nothing is left behind when the host ends: staging directories and
// processes after process.exit(), SIGTERM/SIGINT (the host still dies of the
// signal), an uncaught exception, and SIGKILL (the next host's first run
// removes the directory; the processes are gone at once). A host with its
// own SIGTERM listener keeps its semantics. See docs/reliability.md.
//
// Runs under `node --test` and `bun test`.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { tempDir, removeTree, findProcesses, delay, token } = require('./helpers/common.js');

const HOST = path.join(__dirname, 'helpers', 'lifecycle-host.js');
const dirs = [];
after(() => dirs.forEach(removeTree));

function staging(dir) {
  return fs.readdirSync(dir).filter((n) => n.startsWith('scriptcage-') || n.startsWith('.scriptcage-'));
}

/** Starts the helper host in `mode` with TMPDIR = `tmp`; `tag` marks its processes. */
function host(mode, tmp, tag) {
  const env = { ...process.env, TMPDIR: tmp };
  // Under `node --test` a child with this variable set reports to the
  // runner instead of dying of an uncaught exception.
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [HOST, mode, tag], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
  const line = (text) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`host never printed ${text}: ${out} ${err}`)), 60000);
      const check = () => {
        if (out.split('\n').includes(text)) {
          clearTimeout(t);
          resolve();
        } else setTimeout(check, 20);
      };
      check();
    });
  return { child, done, line };
}

async function noProcessesSoon(tag) {
  for (let i = 0; i < 100 && findProcesses(tag).length > 0; i++) await delay(50);
  assert.deepEqual(findProcesses(tag), [], 'processes of the dead host remain');
}

function freshTmp() {
  const d = tempDir('lifecycle', 0o755);
  dirs.push(d);
  return d;
}

describe('host lifecycle: nothing left behind', () => {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    test(`${signal} with no listener of the host: it still dies of ${signal}, and its run and directory go with it`, { timeout: 120000 }, async () => {
      const tmp = freshTmp();
      const tag = `lc-${token()}`;
      const h = host('inflight', tmp, tag);
      await h.line('started');
      assert.equal(staging(tmp).length, 1, 'the run is staged');
      h.child.kill(signal);
      const r = await h.done;
      assert.equal(r.signal, signal, `exit ${r.code} ${r.err}`);
      assert.deepEqual(staging(tmp), []);
      await noProcessesSoon(tag);
    });
  }

  test('SIGTERM with a listener of the host: the host keeps running its runs', { timeout: 120000 }, async () => {
    const tmp = freshTmp();
    const tag = `lc-${token()}`;
    const h = host('handler', tmp, tag);
    await h.line('started');
    h.child.kill('SIGTERM');
    const r = await h.done;
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /handled\nresult 42\n/);
    assert.deepEqual(staging(tmp), []);
    await noProcessesSoon(tag);
  });

  test('an uncaught exception: the host dies as it would, nothing remains', { timeout: 120000 }, async () => {
    const tmp = freshTmp();
    const tag = `lc-${token()}`;
    const h = host('throw', tmp, tag);
    const r = await h.done;
    assert.match(r.out, /started/);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /uncaught on purpose/);
    assert.deepEqual(staging(tmp), []);
    await noProcessesSoon(tag);
  });

  test('process.exit() right after a run, while the pool boots its replacements', { timeout: 120000 }, async () => {
    const tmp = freshTmp();
    const marked = () => staging(tmp).filter((n) => fs.existsSync(path.join(tmp, n, '.scriptcage-owner')));
    for (let i = 0; i < 3; i++) {
      const tag = `lc-${token()}`;
      const r = await host('exit', tmp, tag).done;
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(marked(), [], `round ${i}`);
      await noProcessesSoon(tag);
    }
    // Rarely (seen with Bun hosts under `bun test`) an empty directory
    // without a marker remains: it goes with the next host's first run once
    // it is older than any creation in progress (2 s).
    await delay(2500);
    const r = await host('cold', tmp, `lc-${token()}`).done;
    assert.match(r.out, /result 42/, r.err);
    assert.deepEqual(staging(tmp), []);
  });

  test('SIGKILL: the processes are gone at once, the directory after the next host\'s first run', { timeout: 120000 }, async () => {
    const tmp = freshTmp();
    const tag = `lc-${token()}`;
    const h = host('inflight', tmp, tag);
    await h.line('started');
    h.child.kill('SIGKILL');
    await h.done;
    await noProcessesSoon(tag);
    const left = staging(tmp);
    assert.equal(left.length, 1, 'a killed host cannot clean up');
    // A directory of a live host (this one's marker) and one without a
    // marker are not touched.
    const mine = fs.mkdtempSync(path.join(tmp, 'scriptcage-'));
    const unmarked = fs.mkdtempSync(path.join(tmp, 'scriptcage-'));
    fs.copyFileSync(path.join(tmp, left[0], '.scriptcage-owner'), path.join(mine, '.scriptcage-owner'));
    const start = fs.readFileSync(`/proc/${process.pid}/stat`, 'latin1');
    const startTime = start.slice(start.lastIndexOf(')') + 2).split(' ')[19];
    const text = fs.readFileSync(path.join(mine, '.scriptcage-owner'), 'utf8')
      .replace(/^pid \d+$/m, `pid ${process.pid}`)
      .replace(/^start \d+$/m, `start ${startTime}`);
    fs.writeFileSync(path.join(mine, '.scriptcage-owner'), text);
    const r = await host('quick', tmp, `lc-${token()}`).done;
    assert.match(r.out, /result 42/, r.err);
    assert.deepEqual(staging(tmp).sort(), [path.basename(mine), path.basename(unmarked)].sort());
  });
});
