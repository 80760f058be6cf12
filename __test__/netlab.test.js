'use strict';

// The network lab fixture itself (__test__/helpers/netlab.js), no sandbox
// involved: from the lab's host program every server answers with its
// name, the lab's DNS answers (UDP and TCP, NXDOMAIN, the rebinding flip),
// /etc/resolv.conf points at it inside the lab only, and nothing of a lab
// outlives it (no process, no interface, the machine's resolv.conf
// unchanged). Under Node and Bun host programs, as root and as uid 65534.
// Skips, saying why, when not root or when `ip`/`unshare` are missing
// (under CI=true missing tools fail instead).
//
// Runs under `node --test` and `bun test`.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { LAB, NAMES, labSkip, runInLab, bunExec } = require('./helpers/netlab.js');
const { findMarked, eventually } = require('./helpers/procs.js');
const os = require('node:os');

const skip = labSkip() || false;
// bun test does not print a suite's skip reason: say it here.
if (skip && process.versions.bun) console.log(`# netlab.test.js skipped: ${skip}`);

// The host program: probes every lab service with plain Node APIs (no
// sandbox) and prints one JSON line.
const PROBE = String.raw`'use strict';
const http = require('node:http');
const net = require('node:net');
const dgram = require('node:dgram');
const dns = require('node:dns').promises;
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const E = process.env;

function get(host, port, path = '/') {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: 10000 }, (res) => {
      let n = 0;
      const parts = [];
      res.on('data', (d) => { n += d.length; if (parts.length < 4) parts.push(d); });
      res.on('end', () => resolve({ status: res.statusCode, host: res.headers['x-lab-host'], bytes: n, body: path === '/' ? Buffer.concat(parts).toString() : undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
  });
}

function udpEcho(host, port, msg) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve({ error: 'timeout' }); }, 5000);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString()); });
    s.send(msg, Number(port), host);
  });
}

// A DNS query over TCP, built and decoded by hand.
function tcpQuery(name, qtype) {
  return new Promise((resolve) => {
    const q = [Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
    for (const l of name.split('.')) q.push(Buffer.from([l.length]), Buffer.from(l));
    q.push(Buffer.from([0, 0, qtype, 0, 1]));
    const msg = Buffer.concat(q);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    const s = net.connect(53, E.LAB_DNS);
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const r = buf.subarray(2);
      s.end();
      const an = r.readUInt16BE(6);
      let p = msg.length;
      const addrs = [];
      for (let i = 0; i < an; i++) {
        const rdlen = r.readUInt16BE(p + 10);
        const rd = r.subarray(p + 12, p + 12 + rdlen);
        addrs.push(rdlen === 4 ? [...rd].join('.') : rd.toString('hex'));
        p += 12 + rdlen;
      }
      resolve({ id: r.readUInt16BE(0), rcode: r[3] & 15, addrs });
    });
    s.on('error', (e) => resolve({ error: e.code }));
    s.write(Buffer.concat([len, msg]));
  });
}

(async () => {
  const out = { uid: process.getuid(), gid: process.getgid(), http: {}, lookup: {}, resolve: {} };
  const hosts = { metadata: E.LAB_METADATA, private: E.LAB_PRIVATE, public: E.LAB_PUBLIC };
  if (E.LAB_IPV6 === '1') Object.assign(hosts, { 'metadata-v6': E.LAB_METADATA_V6, 'public-v6': E.LAB_PUBLIC_V6 });
  for (const [name, addr] of Object.entries(hosts)) {
    for (const port of [E.LAB_HTTP_PORT, E.LAB_ALT_PORT]) out.http[name + ':' + port] = (await get(addr, port)).body;
  }
  out.loopback = (await get('127.0.0.1', E.LAB_LOOPBACK_PORT)).body;
  if (E.LAB_IPV6 === '1') out.loopback6 = (await get('::1', E.LAB_LOOPBACK_PORT)).body;
  out.bulk = await get(E.LAB_PUBLIC, E.LAB_HTTP_PORT, '/bulk?mib=3');
  out.udpEcho = await udpEcho(E.LAB_PUBLIC, E.LAB_UDP_ECHO_PORT, 'ping');
  out.refused = (await get(E.LAB_PUBLIC, 81)).error;
  for (const name of ['public.test', 'private.test', 'meta.test', 'a.allowed.test', 'b.allowed.test']) {
    out.lookup[name] = (await dns.lookup(name, { family: 4 })).address;
  }
  out.lookup['v6.test'] = (await dns.lookup('v6.test', { family: 6 })).address;
  out.lookup['meta6.test'] = (await dns.lookup('meta6.test', { family: 6 })).address;
  out.lookup['dual.test'] = (await dns.lookup('dual.test', { all: true })).map((a) => a.address).sort();
  out.lookup['nope.test'] = await dns.lookup('nope.test').then((a) => a.address, (e) => e.code);
  out.rebindLookup = [];
  for (let i = 0; i < 4; i++) out.rebindLookup.push((await dns.lookup('rebind.test', { family: 4 })).address);
  const r = new dns.Resolver();
  r.setServers([E.LAB_DNS]);
  out.resolve['public.test'] = await r.resolve4('public.test');
  out.resolve['v6.test'] = await r.resolve6('v6.test');
  out.resolve['public.test AAAA'] = await r.resolve6('public.test').catch((e) => e.code);
  out.resolve['nope.test'] = await r.resolve4('nope.test').catch((e) => e.code);
  out.rebindResolve = [];
  for (let i = 0; i < 2; i++) out.rebindResolve.push((await r.resolve4('rebind.test', { ttl: true }))[0]);
  out.tcp = await tcpQuery('meta.test', 1);
  out.tcpNx = await tcpQuery('nope.test', 1);
  out.tcpNodata = await tcpQuery('public.test', 28);
  out.resolvConf = fs.readFileSync('/etc/resolv.conf', 'utf8');
  // A detached process that outlives this program: the lab must end it.
  const marker = process.argv[2];
  const child = spawn('sleep', [marker], { detached: true, stdio: 'ignore' });
  child.unref();
  out.leftPid = child.pid;
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

let dir;
function probeFile() {
  if (dir) return path.join(dir, 'probe.js');
  // Readable by the unprivileged user.
  // (Not common.js's tempDir: this suite does not load the addon.)
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'scriptcage-test-netlab-')));
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'probe.js');
  fs.writeFileSync(file, PROBE);
  fs.chmodSync(file, 0o644);
  return file;
}
after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

function uniqueSleep() {
  return `1000.${Math.floor(1e8 + Math.random() * 9e8)}`;
}

const resolvBefore = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : null;

function hostIp(args) {
  return spawnSync('ip', args, { encoding: 'utf8' });
}

describe('network lab fixture', { skip }, () => {
  const runtimes = ['node', ...(bunExec() ? ['bun'] : [])];
  for (const runtime of runtimes) {
    for (const unprivileged of [false, true]) {
      test(`${runtime} host program${unprivileged ? ' as uid 65534' : ' as root'}: every service answers, DNS and the rebinding flip, full teardown`, async () => {
        const marker = uniqueSleep();
        const lab = await runInLab({ runtime, unprivileged, hostScript: probeFile(), args: [marker] });
        const r = lab.result;
        assert.equal(r.uid, unprivileged ? 65534 : 0);
        assert.equal(r.gid, unprivileged ? 65534 : 0);

        // Every HTTP server answers with its name, on both ports.
        const names = ['metadata', 'private', 'public', ...(lab.ipv6 ? ['metadata-v6', 'public-v6'] : [])];
        const want = {};
        for (const n of names) for (const p of [LAB.httpPort, LAB.altPort]) want[`${n}:${p}`] = n;
        assert.deepEqual(r.http, want);
        assert.equal(r.loopback, 'loopback');
        if (lab.ipv6) assert.equal(r.loopback6, 'loopback');
        assert.deepEqual(r.bulk, { status: 200, host: 'public', bytes: 3 * 1024 * 1024 });
        assert.equal(r.udpEcho, 'ping');
        assert.equal(r.refused, 'ECONNREFUSED', 'a port nobody serves is refused');
        // The servers saw the requests (with the client's address).
        const seen = lab.http.filter((h) => h.host === 'public' && h.port === LAB.httpPort && h.path === '/');
        assert.equal(seen.length, 1);
        assert.ok(seen[0].remote, 'the client address is logged');

        // DNS through the host resolver (resolv.conf) and directly.
        assert.equal(r.resolvConf, `nameserver ${LAB.dns}\noptions timeout:2 attempts:2\n`);
        for (const [name, a] of Object.entries(NAMES)) {
          if (Array.isArray(a.A) && !a.AAAA) assert.equal(r.lookup[name], a.A[0], name);
        }
        assert.equal(r.lookup['v6.test'], LAB.publicV6);
        assert.equal(r.lookup['meta6.test'], LAB.metadataV6);
        assert.deepEqual(r.lookup['dual.test'], [LAB.publicV6, LAB.public].sort());
        assert.equal(r.lookup['nope.test'], 'ENOTFOUND');
        assert.deepEqual(r.resolve['public.test'], [LAB.public]);
        assert.deepEqual(r.resolve['v6.test'], [LAB.publicV6]);
        // A name without AAAA records: NOERROR with no answers (Node says
        // ENODATA, Bun ENOTFOUND).
        assert.ok(['ENODATA', 'ENOTFOUND'].includes(r.resolve['public.test AAAA']), r.resolve['public.test AAAA']);
        assert.deepEqual(r.tcpNodata, { id: 0xabcd, rcode: 0, addrs: [] });
        assert.equal(r.resolve['nope.test'], 'ENOTFOUND');
        // rebind.test alternates per query, with TTL 0, over every path.
        assert.deepEqual(r.rebindLookup, [LAB.public, LAB.metadata, LAB.public, LAB.metadata]);
        assert.deepEqual(r.rebindResolve, [{ address: LAB.public, ttl: 0 }, { address: LAB.metadata, ttl: 0 }]);
        assert.deepEqual(r.tcp, { id: 0xabcd, rcode: 0, addrs: [LAB.metadata] });
        assert.deepEqual(r.tcpNx, { id: 0xabcd, rcode: 3, addrs: [] });
        const rebinds = lab.dns.filter((q) => q.name === 'rebind.test' && q.type === 'A');
        assert.deepEqual(rebinds.map((q) => q.answer[0]), [LAB.public, LAB.metadata, LAB.public, LAB.metadata, LAB.public, LAB.metadata]);
        assert.ok(lab.dns.some((q) => q.transport === 'tcp' && q.name === 'meta.test'), 'the TCP query is logged');

        // Teardown: the detached child, the driver and the lab's interface
        // are gone; the machine's resolv.conf is untouched.
        assert.ok(r.leftPid > 0);
        assert.deepEqual(eventually(() => findMarked({ marker }).length === 0) ? [] : findMarked({ marker }), [], 'the lab ended the left-over process');
        assert.deepEqual(findMarked({ marker: lab.token }), [], 'no lab process is left');
        assert.equal(fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : null, resolvBefore);
        assert.notEqual(hostIp(['link', 'show', 'lab0']).status, 0, 'lab0 is not on the machine');
        assert.ok(!hostIp(['addr']).stdout.includes(LAB.public), "the lab's addresses are not on the machine");
      });
    }
  }

  // The broker's tests run scriptcage in the lab: show the addon works there
  // (only behaviours that hold with and without egress enforcement).
  const SCRIPTCAGE_PROBE = String.raw`'use strict';
const path = require('node:path');
const sc = require(path.join(process.env.LAB_ROOT, 'js', 'index.js'));
const script = "export default await fetch('http://public.test/').then((r) => r.text(), (e) => 'ERR ' + ((e.cause && e.cause.code) || e.message));";
(async () => {
  const out = {};
  for (const profile of ['off', 'strict']) {
    sc.configureSandbox({ profile });
    const r = await sc.runEsmScript({ script, context: {}, timeoutMs: 30000 });
    out[profile] = { result: r.result, error: r.error, network: r.sandbox.requested.network.mode };
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;
  const checkoutReadable = () => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'test', '-r', path.join(__dirname, '..', 'js', 'index.js')]).status === 0;
  for (const runtime of runtimes) {
    for (const unprivileged of [false, true]) {
      const why = unprivileged && !checkoutReadable() ? 'the checkout is not readable by uid 65534' : false;
      test(`scriptcage runs in the lab (${runtime}${unprivileged ? ', uid 65534' : ', root'}): off reaches public.test through the lab DNS, strict does not`, { skip: why }, async () => {
        const file = path.join(path.dirname(probeFile()), 'scriptcage-probe.js');
        fs.writeFileSync(file, SCRIPTCAGE_PROBE);
        fs.chmodSync(file, 0o644);
        const lab = await runInLab({ runtime, unprivileged, hostScript: file });
        assert.equal(lab.result.off.result, 'public', JSON.stringify(lab.result.off));
        assert.match(String(lab.result.strict.result), /^ERR /, JSON.stringify(lab.result.strict));
        assert.equal(lab.result.strict.network, 'deny');
        assert.equal(lab.http.length, 1, 'only the off run reached a server');
        assert.ok(lab.dns.some((q) => q.name === 'public.test' && q.type === 'A'));
      });
    }
  }

  test('a failing host program rejects with its output; allowFailure resolves with it', async () => {
    const file = path.join(path.dirname(probeFile()), 'fail.js');
    fs.writeFileSync(file, "console.log('not json'); console.error('boom'); process.exit(3);\n");
    fs.chmodSync(file, 0o644);
    await assert.rejects(runInLab({ hostScript: file }), (e) => /status 3/.test(e.message) && /boom/.test(e.message));
    const lab = await runInLab({ hostScript: file, allowFailure: true });
    assert.equal(lab.status, 3);
    assert.equal(lab.result, undefined);
    assert.match(lab.stderr, /boom/);
  });

  test('a lab that times out is killed whole', async () => {
    const marker = uniqueSleep();
    const file = path.join(path.dirname(probeFile()), 'hang.js');
    fs.writeFileSync(file, "require('node:child_process').spawn('sleep', [process.argv[2]], { detached: true, stdio: 'ignore' }).unref();\nsetInterval(() => {}, 1000);\n");
    fs.chmodSync(file, 0o644);
    await assert.rejects(runInLab({ hostScript: file, args: [marker], timeoutMs: 3000 }), /timed out after 3000 ms/);
    assert.ok(eventually(() => findMarked({ marker }).length === 0), `left: ${JSON.stringify(findMarked({ marker }))}`);
  });

  test('bad arguments are TypeErrors', async () => {
    await assert.rejects(runInLab({ hostScript: 'relative.js' }), TypeError);
    await assert.rejects(runInLab({ runtime: 'deno', hostScript: '/x.js' }), TypeError);
  });
});
