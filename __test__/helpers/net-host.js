'use strict';

// Host program for network.test.js, run inside a network lab
// (helpers/netlab.js): runs sandboxed probes with scriptcage under the
// policy named in argv[2] (JSON), cold and warm, ESM and shell, and prints
// one JSON line. Not a test file.

const path = require('node:path');
const sc = require(path.join(process.env.LAB_ROOT, 'js', 'index.js'));
const E = process.env;

const policy = JSON.parse(process.argv[2] || '{}');
const warm = process.argv[3] === 'warm';

// A probe inside the sandbox: fetch, node:http, node:net, dns.lookup.
const PROBE = `
import http from 'node:http';
import net from 'node:net';
import dns from 'node:dns';
const code = (e) => (e && ((e.cause && e.cause.code) || e.code || e.name)) || String(e);
const msg = (e) => (e && ((e.cause && e.cause.message) || e.message)) || '';
async function f(url) {
  try { const r = await fetch(url, { signal: AbortSignal.timeout(4000) }); return 'ok ' + (await r.text()).trim(); }
  catch (e) { return 'ERR ' + code(e) + ' ' + msg(e); }
}
function h(host, port) {
  return new Promise((res) => {
    const q = http.get({ host, port, path: '/', timeout: 4000 }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => res('ok ' + b.trim())); });
    q.on('timeout', () => q.destroy(new Error('TIMEOUT')));
    q.on('error', (e) => res('ERR ' + code(e) + ' ' + e.message));
  });
}
function t(host, port) {
  return new Promise((res) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); res('ERR TIMEOUT'); }, 4000);
    s.on('connect', () => { clearTimeout(timer); s.destroy(); res('ok'); });
    s.on('error', (e) => { clearTimeout(timer); res('ERR ' + code(e) + ' ' + e.message); });
  });
}
function l(name) {
  return new Promise((res) => dns.lookup(name, { family: 4 }, (e, a) => res(e ? 'ERR ' + code(e) : 'ok ' + a)));
}
function u(host, port) {
  // UDP other than DNS: an echo server in the lab answers when reached.
  return new Promise(async (res) => {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => { s.close(); res('ERR TIMEOUT'); }, 1500);
    s.on('message', (m) => { clearTimeout(timer); s.close(); res('ok ' + m); });
    s.on('error', (e) => { clearTimeout(timer); try { s.close(); } catch {} res('ERR ' + code(e)); });
    s.send(Buffer.from('ping'), port, host, (e) => { if (e) { clearTimeout(timer); try { s.close(); } catch {} res('ERR ' + code(e)); } });
  });
}
async function r(name) {
  // c-ares (dns.resolve*), not getaddrinfo: also answered by the stub.
  try { return 'ok ' + (await dns.promises.resolve4(name)).join(','); } catch (e) { return 'ERR ' + code(e); }
}
export default async (ctx) => {
  const out = {};
  for (const [k, v] of Object.entries(ctx.fetch)) out['fetch ' + k] = await f(v);
  for (const [k, [host, port]] of Object.entries(ctx.http)) out['http ' + k] = await h(host, port);
  for (const [k, [host, port]] of Object.entries(ctx.tcp)) out['tcp ' + k] = await t(host, port);
  for (const name of ctx.lookup) out['lookup ' + name] = await l(name);
  // Last: a name the stub answered makes its address reachable under an
  // allowlist entry for that name, which would change the probes above.
  for (const [k, [host, port]] of Object.entries(ctx.udp || {})) out['udp ' + k] = await u(host, port);
  for (const name of ctx.lookup) out['resolve ' + name] = await r(name);
  return out;
};`;

async function main() {
  sc.configureSandbox({ profile: 'standard', ...policy });
  if (warm) sc.configureRunner({ warmProcesses: 1 });
  const lp = Number(E.LAB_LOOPBACK_PORT);
  const ctx = {
    fetch: {
      public: `http://${E.LAB_PUBLIC}/`,
      publicName: 'http://public.test/',
      private: `http://${E.LAB_PRIVATE}/`,
      metadata: `http://${E.LAB_METADATA}/`,
      metaName: 'http://meta.test/',
      loopback: `http://127.0.0.1:${lp}/`,
      suffixA: 'http://a.allowed.test/',
      rebind1: 'http://rebind.test/',
      rebind2: 'http://rebind.test/',
      publicAlt: `http://${E.LAB_PUBLIC}:${E.LAB_ALT_PORT}/`,
      mapped: `http://[::ffff:${E.LAB_METADATA}]/`,
    },
    http: { public: [E.LAB_PUBLIC, 80], metadata: [E.LAB_METADATA, 80] },
    tcp: { public: [E.LAB_PUBLIC, 80], loopback: ['127.0.0.1', lp], metadata: [E.LAB_METADATA, 80] },
    lookup: ['public.test', 'private.test', 'a.allowed.test'],
    udp: { public: [E.LAB_PUBLIC, Number(E.LAB_UDP_ECHO_PORT)] },
  };
  const runs = warm ? 2 : 1;
  let esm;
  for (let i = 0; i < runs; i++) {
    // Warm: the second run is the pooled one.
    esm = await sc.runEsmScript({ script: PROBE, context: ctx, timeoutMs: 60000 });
  }
  const curl = ['curl', 'wget'].map((tool) => `if command -v ${tool} >/dev/null; then echo "${tool} $(${tool === 'curl' ? 'curl -s -m 4 -o /dev/null -w %{http_code}' : 'wget -q -t 1 -T 4 -O /dev/null'} http://${E.LAB_PUBLIC}/ >/dev/null 2>&1 && echo ok || echo fail) $(${tool === 'curl' ? 'curl -s -m 4 -o /dev/null' : 'wget -q -t 1 -T 4 -O /dev/null'} http://${E.LAB_METADATA}/ >/dev/null 2>&1 && echo ok || echo fail)"; fi`).join('\n');
  const shell = await sc.runShellScript({ script: curl + '\necho done', timeoutMs: 30000 });
  await sc.closeRunner();
  console.log(JSON.stringify({
    caps: sc.sandboxCapabilities(),
    esm: { result: esm.result, error: esm.error, stderr: esm.stderr, sandbox: esm.sandbox },
    shell: { stdout: shell.stdout, stderr: shell.stderr, exitCode: shell.exitCode, sandbox: shell.sandbox },
  }));
}

main().catch((e) => {
  console.log(JSON.stringify({ crash: String(e && e.stack) }));
  process.exit(1);
});
