'use strict';

// The syscall filter (docs/sandbox.md, "Syscall filter"): every call it
// refuses gets a probe that shows the refusal inside a sandboxed run and a
// different answer outside (so the probe really reaches the kernel); the
// runtimes keep working under it. The probe is a small C program built
// here with cc (the toolchain that links the addon).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const sc = require(path.join(__dirname, '..', 'js', 'index.js'));

const EPERM = 1;
const ENOSYS = 38;
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

// name → what the filter answers.
const REFUSED = {
  bpf: EPERM,
  userfaultfd: EPERM,
  perf_event_open: EPERM,
  keyctl: EPERM,
  add_key: EPERM,
  request_key: EPERM,
  ptrace: EPERM,
  process_vm_readv: EPERM,
  process_vm_writev: EPERM,
  kexec_load: EPERM,
  init_module: EPERM,
  finit_module: EPERM,
  delete_module: EPERM,
  mount: EPERM,
  umount2: EPERM,
  fsopen: EPERM,
  fspick: EPERM,
  open_tree: EPERM,
  move_mount: EPERM,
  pivot_root: EPERM,
  chroot: EPERM,
  setns: EPERM,
  unshare: EPERM,
  clone_newuser: EPERM,
  clone3: ENOSYS,
  io_uring_setup: ENOSYS,
  io_uring_enter: ENOSYS,
  io_uring_register: ENOSYS,
};
if (process.arch === 'x64') REFUSED.x32_getpid = ENOSYS;

let dir;
let probe;
let skip = false;

before(() => {
  const cc = spawnSync('cc', ['--version']);
  if (cc.status !== 0) {
    skip = 'no C compiler (cc) to build the syscall probe';
    return;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-probe-'));
  fs.chmodSync(dir, 0o755); // the sandbox uid must reach it
  probe = path.join(dir, 'probe');
  execFileSync('cc', ['-O1', '-o', probe, path.join(__dirname, 'helpers', 'syscall-probe.c')]);
  fs.chmodSync(probe, 0o755);
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  sc.configureSandbox({ profile: 'standard' });
});

/** Parses "name ret errno" lines. */
function parse(text) {
  const out = {};
  for (const line of text.trim().split('\n')) {
    const [name, ret, errno] = line.trim().split(' ');
    out[name] = { ret: Number(ret), errno: Number(errno) };
  }
  return out;
}

/** Each probe in its own process outside (unshare would change the next). */
function outside(name) {
  return parse(execFileSync(probe, [name], { encoding: 'utf8' }))[name];
}

async function inside(profile, names) {
  sc.configureSandbox({ profile });
  const r = await sc.runShellScript({ script: `./probe ${names.join(' ')}`, cwd: dir, timeoutMs: 20000 });
  assert.equal(r.exitCode, 0, r.stderr);
  return { got: parse(r.stdout), r };
}

for (const profile of ['standard', 'strict']) {
  describe(`syscall filter [${profile}]`, () => {
    test('every refused call fails inside with the documented errno, and answers otherwise outside', async (t) => {
      if (skip) return t.skip(skip);
      const names = Object.keys(REFUSED);
      const { got, r } = await inside(profile, names);
      for (const name of names) {
        assert.deepEqual(got[name], { ret: -1, errno: REFUSED[name] }, `${name} inside the sandbox`);
        if (name === 'x32_getpid') continue; // x32 is often compiled out: ENOSYS outside too
        const out = outside(name);
        // Outside the call reaches the kernel: it succeeds, or fails its own way.
        assert.ok(out.ret >= 0 || out.errno !== REFUSED[name] || (!IS_ROOT && out.errno === EPERM), `${name} outside: ${JSON.stringify(out)}`);
      }
      assert.ok(r.sandbox.notes.some((n) => n.layer === 'privilege' && /syscall filter \(seccomp\)/.test(n.note)), JSON.stringify(r.sandbox.notes));
    });

    test('ordinary calls still work: fork without namespace flags, getpid', async (t) => {
      if (skip) return t.skip(skip);
      const { got } = await inside(profile, ['clone_plain', 'getpid']);
      assert.deepEqual(got, { clone_plain: { ret: 0, errno: 0 }, getpid: { ret: 0, errno: 0 } });
    });

    test('nested user namespaces are closed twice: unshare -U fails, max_user_namespaces is 0', async () => {
      sc.configureSandbox({ profile });
      const r = await sc.runShellScript({
        script: 'cat /proc/sys/user/max_user_namespaces; grep -E "^Seccomp:" /proc/self/status; if command -v unshare >/dev/null; then unshare -U true && echo NESTED || echo REFUSED; else echo REFUSED; fi',
        timeoutMs: 20000,
      });
      assert.equal(r.exitCode, 0, r.stderr);
      const [max, seccomp, nested] = r.stdout.split('\n');
      assert.equal(max, '0');
      assert.match(seccomp, /^Seccomp:\s+2$/);
      assert.equal(nested, 'REFUSED');
    });
  });
}

describe('syscall filter: what it leaves alone', () => {
  test('[off] no filter: the probe gets the outside answers', async (t) => {
    if (skip) return t.skip(skip);
    const { got } = await inside('off', ['io_uring_setup', 'clone3']);
    assert.notDeepEqual(got.clone3, { ret: -1, errno: ENOSYS });
  });

  test('the runtime does fs, child_process, worker_threads and http under the filter', async () => {
    sc.configureSandbox({ profile: 'standard' });
    const r = await sc.runEsmScript({
      script: `import { execFileSync } from "node:child_process";
import { Worker } from "node:worker_threads";
import http from "node:http";
import fs from "node:fs";
export default async () => {
  const out = {};
  out.sh = execFileSync("sh", ["-c", "echo child; grep -E '^Seccomp:' /proc/self/status"]).toString().trim().split("\\n");
  out.worker = await new Promise((res, rej) => {
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(21 * 2)', { eval: true });
    w.on("message", res);
    w.on("error", rej);
  });
  out.http = await new Promise((res, rej) => {
    const s = http.createServer((q, a) => a.end("pong")).listen(0, "127.0.0.1", () => {
      http.get({ host: "127.0.0.1", port: s.address().port }, (resp) => {
        let b = "";
        resp.on("data", (c) => (b += c));
        resp.on("end", () => { s.close(); res(b); });
      }).on("error", rej);
    });
  });
  fs.writeFileSync("note.txt", "written");
  out.fs = fs.readFileSync("note.txt", "utf8");
  return out;
};`,
      timeoutMs: 30000,
    });
    assert.equal(r.error, undefined, `${r.error}\n${r.stderr}`);
    assert.deepEqual(r.result, { sh: ['child', 'Seccomp:\t2'], worker: 42, http: 'pong', fs: 'written' });
  });
});
