'use strict';

// A throwaway network lab for the network tests and benches. Not a test
// file (`node --test` and `bun test` only pick up `*.test.js`).
//
// `runInLab({ runtime, unprivileged, hostScript, args })` starts, as root,
// `unshare --net --mount --propagation private --pid --fork --kill-child
// --mount-proc` around this file's lab driver (always run by Node). The
// driver, pid 1 of its own PID namespace, inside its own network and mount
// namespaces:
//   - brings `lo` up and adds an interface `lab0` (dummy; a veth pair or an
//     empty bridge on kernels without the dummy driver) holding the lab's
//     addresses (LAB below: fake metadata, private and public hosts, a DNS
//     server address);
//   - serves HTTP on each host address, ports 80 and 8080 (the body is the
//     host's name; `/bulk?mib=N` streams N MiB), HTTP on the host's loopback
//     (127.0.0.1 and ::1, one free port: the "host loopback" service), UDP
//     echo on the public address port 7, and DNS over UDP and TCP on
//     10.53.0.53:53 (NAMES below; `rebind.test` alternates its A answer
//     between the public and the metadata address, TTL 0);
//   - bind-mounts a resolv.conf naming 10.53.0.53 over /etc/resolv.conf
//     (its private mount namespace only);
//   - runs the host program (`node` or `bun` <hostScript> <args>), as root
//     or as uid/gid 65534 through `setpriv`, with the lab in its
//     environment (LAB_* variables), and reports its stdout, stderr, status
//     and the servers' request logs.
// When the driver exits, the kernel ends every process of its PID
// namespace and drops the network namespace with its interfaces: nothing
// outlives a lab, and the machine's network and /etc/resolv.conf are never
// touched. `runInLab` resolves with the host program's last stdout line
// parsed as JSON (`result`) plus the logs.
//
// `labSkip()` says why a lab cannot run here (not root, `ip`/`unshare`
// missing, namespaces refused); under CI=true missing tools are not a skip
// but a failure (runInLab throws saying which package to install).

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');
const IS_BUN = typeof process.versions.bun === 'string';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const CI = process.env.CI === 'true';
const MiB = 1024 * 1024;
const MARK = 'NETLAB-RESULT ';
const UNPRIVILEGED = { uid: 65534, gid: 65534 };

/** The lab's addresses. */
const LAB = Object.freeze({
  metadata: '169.254.169.254',
  private: '10.1.0.10',
  public: '203.0.113.10',
  dns: '10.53.0.53',
  metadataV6: 'fd00:ec2::254',
  publicV6: '2001:db8::10',
  httpPort: 80,
  altPort: 8080,
  udpEchoPort: 7,
});

/** Addresses on lab0, with the name each HTTP server answers with. */
const HOSTS = [
  { name: 'metadata', addr: LAB.metadata, cidr: `${LAB.metadata}/16` },
  { name: 'private', addr: LAB.private, cidr: `${LAB.private}/24` },
  { name: 'public', addr: LAB.public, cidr: `${LAB.public}/24` },
  { name: 'metadata-v6', addr: LAB.metadataV6, cidr: `${LAB.metadataV6}/64`, v6: true },
  { name: 'public-v6', addr: LAB.publicV6, cidr: `${LAB.publicV6}/64`, v6: true },
];

/** What the lab's DNS server answers (A / AAAA); other names are NXDOMAIN. */
const NAMES = Object.freeze({
  'public.test': { A: [LAB.public] },
  'private.test': { A: [LAB.private] },
  'meta.test': { A: [LAB.metadata] },
  'v6.test': { AAAA: [LAB.publicV6] },
  'meta6.test': { AAAA: [LAB.metadataV6] },
  'dual.test': { A: [LAB.public], AAAA: [LAB.publicV6] },
  'a.allowed.test': { A: [LAB.public] },
  'b.allowed.test': { A: [LAB.public] },
  // A answers alternate per query: public, metadata, public, ... (TTL 0).
  'rebind.test': { A: 'rebind' },
});

const REBIND = [LAB.public, LAB.metadata];

function findTool(name) {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** Debian packages of the tools the lab needs. */
const PACKAGES = { ip: 'iproute2', unshare: 'util-linux', setpriv: 'util-linux', mount: 'mount' };

function missingTools() {
  return Object.keys(PACKAGES).filter((t) => !findTool(t));
}

/** The Node executable (the driver always runs under Node). */
function nodeExec() {
  if (!IS_BUN) return process.execPath;
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/local/bin', '/usr/bin'])) {
    const p = path.join(dir, 'node');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

/** The Bun executable (the dev dependency, or the one running). */
function bunExec() {
  if (IS_BUN) return process.execPath;
  const p = path.join(ROOT, 'node_modules', '.bin', 'bun');
  return fs.existsSync(p) ? fs.realpathSync(p) : null;
}

let probed;
/**
 * Why no lab can run here, or null. Not root, or namespaces refused: a
 * skip. A missing tool: a skip, except under CI=true (null, so the test runs
 * and runInLab fails naming the package).
 */
function labSkip() {
  if (!IS_ROOT) return `the network lab needs root (uid ${process.getuid()})`;
  const missing = missingTools();
  if (missing.length) {
    if (CI) return null;
    return `the network lab needs ${missing.map((t) => `${t} (Debian: ${PACKAGES[t]})`).join(', ')}`;
  }
  if (!nodeExec()) return 'the network lab driver needs node on PATH';
  if (probed === undefined) {
    const r = spawnSync(findTool('unshare'), ['--net', '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', findTool('ip'), 'link', 'set', 'lo', 'up'], { encoding: 'utf8', timeout: 10000 });
    probed = r.status === 0 ? null : `network and mount namespaces are refused here: ${(r.stderr || r.error || '').toString().trim() || `status ${r.status}`}`;
  }
  return probed;
}

/** Whether a lab can run here. */
function labAvailable() {
  return labSkip() === null;
}

/**
 * Runs `hostScript` (a JS file) under `runtime` ('node' | 'bun') inside a
 * fresh lab, as root or (unprivileged) as uid/gid 65534. The script and
 * everything it loads must be readable by that user. Resolves with
 * `{ result, status, signal, stdout, stderr, dns, http, ipv6, loopbackPort }`:
 * `result` is the last non-empty stdout line parsed as JSON; `dns` and
 * `http` are the servers' logs. Rejects when the lab cannot be set up, the
 * program fails (unless `allowFailure`) or prints no JSON.
 */
async function runInLab({ runtime = 'node', unprivileged = false, hostScript, args = [], env = {}, cwd, timeoutMs = 120000, allowFailure = false } = {}) {
  if (runtime !== 'node' && runtime !== 'bun') throw new TypeError(`runtime must be 'node' or 'bun', not ${runtime}`);
  if (typeof hostScript !== 'string' || !path.isAbsolute(hostScript)) throw new TypeError('hostScript must be an absolute path');
  if (!IS_ROOT) throw new Error('runInLab needs root');
  const missing = missingTools();
  if (missing.length) throw new Error(`runInLab: missing ${missing.map((t) => `${t} (install the Debian package ${PACKAGES[t]})`).join(', ')}`);
  const exec = runtime === 'node' ? nodeExec() : bunExec();
  if (!exec) throw new Error(`runInLab: no ${runtime} executable found`);
  const token = crypto.randomBytes(8).toString('hex');
  let home = null;
  if (unprivileged) {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'netlab-home-'));
    fs.chownSync(home, UNPRIVILEGED.uid, UNPRIVILEGED.gid);
    fs.chmodSync(home, 0o700);
  }
  const config = {
    exec, hostScript, args: args.map(String), env, unprivileged, home,
    cwd: cwd || path.dirname(hostScript), root: ROOT, token,
    tools: { ip: findTool('ip'), mount: findTool('mount'), setpriv: findTool('setpriv') },
  };
  const child = spawn(
    findTool('unshare'),
    ['--net', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc', nodeExec(), __filename, '--netlab-driver', token],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NETLAB_CONFIG: Buffer.from(JSON.stringify(config)).toString('base64') } },
  );
  const out = [];
  const err = [];
  child.stdout.on('data', (b) => out.push(b));
  child.stderr.on('data', (b) => err.push(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  if (home) fs.rmSync(home, { recursive: true, force: true });
  const stdout = Buffer.concat(out).toString('utf8');
  const stderr = Buffer.concat(err).toString('utf8');
  const line = stdout.split('\n').find((l) => l.startsWith(MARK));
  if (!line) {
    throw new Error(`the lab ${timedOut ? `timed out after ${timeoutMs} ms` : `ended (status ${code}, signal ${signal})`} without a result\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
  const lab = JSON.parse(line.slice(MARK.length));
  if (lab.setupError) throw new Error(`the lab could not be set up: ${lab.setupError}\nstderr: ${stderr}`);
  const describe = () => `host program (${runtime}${unprivileged ? ', uid 65534' : ''}) status ${lab.status} signal ${lab.signal}\nstdout: ${lab.stdout}\nstderr: ${lab.stderr}`;
  if (lab.status !== 0 && !allowFailure) throw new Error(`the lab's ${describe()}`);
  const last = lab.stdout.split('\n').map((l) => l.trim()).filter(Boolean).pop();
  let result;
  try {
    result = JSON.parse(last);
  } catch {
    if (!allowFailure) throw new Error(`the lab's host program printed no JSON on its last line: ${describe()}`);
  }
  return { result, ...lab, token };
}

// ---------------------------------------------------------------- driver

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')}: ${(r.stderr || r.error || '').toString().trim()}`);
}

/** The lab's DNS server logic: `query` (bytes) to response bytes, or null. */
function dnsServer(log) {
  let rebinds = 0;
  return (q, transport) => {
    if (q.length < 12) return null;
    const id = q.readUInt16BE(0);
    const flags = q.readUInt16BE(2);
    if (flags & 0x8000) return null; // a response
    const labels = [];
    let p = 12;
    let bad = q.readUInt16BE(4) !== 1;
    while (!bad) {
      if (p >= q.length) { bad = true; break; }
      const len = q[p];
      if (len === 0) { p += 1; break; }
      if (len > 63 || p + 1 + len > q.length) { bad = true; break; }
      labels.push(q.toString('latin1', p + 1, p + 1 + len));
      p += 1 + len;
    }
    if (!bad && p + 4 > q.length) bad = true;
    const header = (rcode, ancount) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      h.writeUInt16BE(0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode, 2);
      h.writeUInt16BE(bad ? 0 : 1, 4);
      h.writeUInt16BE(ancount, 6);
      return h;
    };
    if (bad) return header(1, 0); // FORMERR
    const question = q.subarray(12, p + 4);
    const name = labels.join('.').toLowerCase();
    const qtype = q.readUInt16BE(p);
    const type = qtype === 1 ? 'A' : qtype === 28 ? 'AAAA' : String(qtype);
    const entry = Object.prototype.hasOwnProperty.call(NAMES, name) ? NAMES[name] : null;
    let addrs = [];
    let ttl = 60;
    if (entry && entry[type] === 'rebind') {
      addrs = [REBIND[rebinds++ % REBIND.length]];
      ttl = 0;
    } else if (entry && entry[type]) {
      addrs = entry[type];
    }
    if (log.length < 10000) log.push({ name, type, transport, answer: entry ? addrs : 'NXDOMAIN' });
    const answers = addrs.map((a) => {
      const rdata = type === 'A' ? Buffer.from(a.split('.').map(Number)) : v6Bytes(a);
      const r = Buffer.alloc(12);
      r.writeUInt16BE(0xc00c, 0);
      r.writeUInt16BE(qtype, 2);
      r.writeUInt16BE(1, 4);
      r.writeUInt32BE(ttl, 6);
      r.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([r, rdata]);
    });
    return Buffer.concat([header(entry ? 0 : 3, answers.length), question, ...answers]);
  };
}

function v6Bytes(a) {
  const [head, tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

async function driver() {
  const http = require('node:http');
  const net = require('node:net');
  const dgram = require('node:dgram');
  const cfg = JSON.parse(Buffer.from(process.env.NETLAB_CONFIG, 'base64').toString('utf8'));
  const report = (o) => process.stdout.write(`${MARK}${JSON.stringify(o)}\n`);
  const logs = { dns: [], http: [] };
  const closers = [];
  let ipv6 = true;
  let loopbackPort = 0;
  let iface = null;
  try {
    const ip = cfg.tools.ip;
    sh(ip, ['link', 'set', 'lo', 'up']);
    // A dummy interface; where the kernel has none, a veth pair (lab0 and
    // its peer lab0p, both in the lab) or an empty bridge.
    for (const type of [['dummy'], ['veth', 'peer', 'name', 'lab0p'], ['bridge']]) {
      try {
        sh(ip, ['link', 'add', 'lab0', 'type', ...type]);
        iface = type[0];
        break;
      } catch (e) {
        process.stderr.write(`netlab: no ${type[0]} interface: ${e.message}\n`);
      }
    }
    if (!iface) throw new Error('no dummy, veth or bridge interface could be created');
    sh(ip, ['link', 'set', 'lab0', 'up']);
    if (iface === 'veth') sh(ip, ['link', 'set', 'lab0p', 'up']);
    for (const h of HOSTS.filter((x) => !x.v6)) sh(ip, ['addr', 'add', h.cidr, 'dev', 'lab0']);
    sh(ip, ['addr', 'add', `${LAB.dns}/32`, 'dev', 'lab0']);
    try {
      for (const h of HOSTS.filter((x) => x.v6)) sh(ip, ['-6', 'addr', 'add', h.cidr, 'dev', 'lab0', 'nodad']);
    } catch (e) {
      ipv6 = false;
      process.stderr.write(`netlab: no IPv6 in the lab: ${e.message}\n`);
    }
    // resolv.conf for this mount namespace only.
    const conf = path.join(os.tmpdir(), `netlab-resolv-${cfg.token}.conf`);
    fs.writeFileSync(conf, `nameserver ${LAB.dns}\noptions timeout:2 attempts:2\n`, { mode: 0o644 });
    try {
      sh(cfg.tools.mount, ['--bind', conf, '/etc/resolv.conf']);
    } finally {
      fs.rmSync(conf, { force: true }); // the mount keeps the inode
    }

    const listen = (server, port, host, opts = {}) => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, ...opts }, () => {
        server.off('error', reject);
        closers.push(() => server.close());
        resolve(server.address().port);
      });
    });
    const chunk = Buffer.alloc(MiB, 0x61);
    const handler = (name) => (req, res) => {
      const url = new URL(req.url, 'http://lab');
      if (logs.http.length < 10000) {
        logs.http.push({ host: name, port: req.socket.localPort, path: url.pathname, remote: req.socket.remoteAddress });
      }
      if (url.pathname === '/bulk') {
        const mib = Math.max(0, Math.min(4096, Number(url.searchParams.get('mib')) || 16));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mib * MiB, 'x-lab-host': name });
        let left = mib;
        const pump = () => {
          while (left > 0) {
            left -= 1;
            if (!res.write(chunk)) return res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-lab-host': name });
      res.end(name);
    };
    for (const h of HOSTS) {
      if (h.v6 && !ipv6) continue;
      for (const port of [LAB.httpPort, LAB.altPort]) await listen(http.createServer(handler(h.name)), port, h.addr);
    }
    loopbackPort = await listen(http.createServer(handler('loopback')), 0, '127.0.0.1');
    if (ipv6) {
      try {
        await listen(http.createServer(handler('loopback')), loopbackPort, '::1', { ipv6Only: true });
      } catch (e) {
        process.stderr.write(`netlab: no ::1 loopback service: ${e.message}\n`);
      }
    }
    // UDP echo on the public host.
    const echo = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => {
      echo.once('error', reject);
      echo.bind(LAB.udpEchoPort, LAB.public, resolve);
    });
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    closers.push(() => echo.close());
    // DNS over UDP and TCP.
    const answer = dnsServer(logs.dns);
    const udp = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(53, LAB.dns, resolve);
    });
    udp.on('message', (m, r) => {
      const a = answer(m, 'udp');
      if (a) udp.send(a, r.port, r.address);
    });
    closers.push(() => udp.close());
    const tcp = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('error', () => {});
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const a = answer(buf.subarray(2, 2 + len), 'tcp');
          buf = buf.subarray(2 + len);
          if (a) {
            const l = Buffer.alloc(2);
            l.writeUInt16BE(a.length);
            s.write(Buffer.concat([l, a]));
          }
        }
      });
    });
    await listen(tcp, 53, LAB.dns);
  } catch (e) {
    report({ setupError: e.message });
    process.exit(0);
  }

  const labEnv = {
    LAB_PUBLIC: LAB.public,
    LAB_PRIVATE: LAB.private,
    LAB_METADATA: LAB.metadata,
    LAB_METADATA_V6: LAB.metadataV6,
    LAB_PUBLIC_V6: LAB.publicV6,
    LAB_DNS: LAB.dns,
    LAB_HTTP_PORT: String(LAB.httpPort),
    LAB_ALT_PORT: String(LAB.altPort),
    LAB_UDP_ECHO_PORT: String(LAB.udpEchoPort),
    LAB_LOOPBACK_PORT: String(loopbackPort),
    LAB_IPV6: ipv6 ? '1' : '0',
    LAB_ROOT: cfg.root,
  };
  let cmd = cfg.exec;
  let argv = [cfg.hostScript, ...cfg.args];
  let env;
  if (cfg.unprivileged) {
    argv = [`--reuid=${UNPRIVILEGED.uid}`, `--regid=${UNPRIVILEGED.gid}`, '--clear-groups', '--', cmd, ...argv];
    cmd = cfg.tools.setpriv;
    env = {
      PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
      HOME: cfg.home,
      TMPDIR: cfg.home,
      LANG: process.env.LANG || 'C.UTF-8',
      USER: 'nobody',
      ...labEnv,
      ...cfg.env,
    };
  } else {
    env = { ...process.env, ...labEnv, ...cfg.env };
    delete env.NETLAB_CONFIG;
  }
  const host = spawn(cmd, argv, { cwd: cfg.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  host.stdout.on('data', (b) => out.push(b));
  host.stderr.on('data', (b) => err.push(b));
  const [status, signal, spawnError] = await new Promise((resolve) => {
    host.on('error', (e) => resolve([null, null, e.message]));
    host.on('close', (c, s) => resolve([c, s, null]));
  });
  for (const c of closers) c();
  report({
    status,
    signal,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8') + (spawnError ? `\nnetlab: could not start the host program: ${spawnError}` : ''),
    dns: logs.dns,
    http: logs.http,
    ipv6,
    iface,
    loopbackPort,
  });
  // Exiting as pid 1 ends everything left in the lab's PID namespace.
  process.exit(0);
}

if (require.main === module && process.argv[2] === '--netlab-driver') {
  driver().catch((e) => {
    process.stdout.write(`${MARK}${JSON.stringify({ setupError: e.stack || String(e) })}\n`);
    process.exit(0);
  });
}

module.exports = { LAB, HOSTS, NAMES, PACKAGES, labSkip, labAvailable, runInLab, nodeExec, bunExec };
