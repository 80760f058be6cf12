'use strict';

// `network` policy validation through configureSandbox (the API has no
// per-run sandbox options): every allow-entry form is accepted and kept as
// written, a bad entry is a TypeError naming the entry and the reason, and
// `denyPrivate` is a documented boolean switch. The rules themselves are
// unit-tested in src/sandbox/net/rules.rs.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const sc = require(path.join(__dirname, '..', 'js', 'index.js'));

after(() => sc.configureSandbox({ profile: 'standard' }));

const GOOD = [
  'public.test',
  'API.Example.COM.',
  'public.test:443',
  '*.allowed.test',
  '*.allowed.test:8443',
  '203.0.113.10',
  '203.0.113.10:80',
  '10.0.0.0/8',
  '10.0.0.0/8:5432',
  '2001:db8::10',
  '[2001:db8::10]',
  '[2001:db8::10]:443',
  '2001:db8::/32',
  '[2001:db8::/32]:443',
  '::ffff:10.1.0.10',
  '169.254.169.254',
];

const BAD = [
  ['', 'empty entry'],
  ['10.0.0.0/33', 'prefix longer than 32'],
  ['2001:db8::/129', 'prefix longer than 128'],
  ['public.test:0', 'port 0 is not a port'],
  ['public.test:65536', 'port 65536 is out of range (1-65535)'],
  ['public.test:http', 'port "http" is not a number'],
  [':443', 'a port needs a host name or address before it'],
  ['*', 'a bare * is not an entry (use network mode "unrestricted")'],
  ['*.', '*. needs a domain after it (*.example.com)'],
  ['a.*.test', '* is only allowed as the whole first label (*.example.com)'],
  ['a..test', 'empty label in host name'],
  ['foo::bar', 'not an IPv6 address (an IPv6 address with a port is written [v6]:port)'],
  ['[1.2.3.4]:80', 'brackets are for IPv6 addresses only'],
  ['[::1', 'missing ] after a bracketed IPv6 address'],
  ['[::1]80', 'only :port may follow a bracketed IPv6 address'],
  ['10.0.0', "not a valid IPv4 address, and a host name's last label cannot start with a digit"],
  ['0x7f000001', "not a valid IPv4 address, and a host name's last label cannot start with a digit"],
  ['bücher.example', 'non-ASCII host name: write its punycode (xn--) form'],
  ['fe80::1%eth0', 'IPv6 zone ids (%) are not supported'],
  ['has space.test', 'contains whitespace or a control character'],
];

/** The TypeError configureSandbox throws for `input` (fails when it accepts). */
function rejection(input) {
  try {
    sc.configureSandbox(input);
  } catch (e) {
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

describe('network policy validation', () => {
  test('denyPrivate defaults to false in every profile and is carried through', () => {
    for (const profile of ['off', 'standard', 'strict']) {
      const p = sc.configureSandbox({ profile });
      assert.equal(p.network.denyPrivate, false, profile);
      assert.equal(p.network.denyLinkLocalAndMetadata, true, profile);
      assert.deepEqual(sc.getSandboxPolicy(), p);
    }
    const p = sc.configureSandbox({ profile: 'standard', network: { denyPrivate: true } });
    assert.equal(p.network.denyPrivate, true);
    assert.equal(p.network.mode, 'unrestricted');
    assert.equal(sc.getSandboxPolicy().network.denyPrivate, true);
    // A profile resets it.
    assert.equal(sc.configureSandbox({ profile: 'standard' }).network.denyPrivate, false);
  });

  test('every entry form is accepted and kept as written', () => {
    const p = sc.configureSandbox({ profile: 'standard', network: { mode: 'allowlist', allow: GOOD } });
    assert.equal(p.network.mode, 'allowlist');
    assert.deepEqual(p.network.allow, GOOD);
    assert.deepEqual(sc.getSandboxPolicy().network.allow, GOOD);
  });

  test('a bad entry is a TypeError naming the entry and the reason; the policy stays', () => {
    const before = sc.configureSandbox({ profile: 'standard', network: { mode: 'allowlist', allow: ['public.test'] } });
    for (const [entry, why] of BAD) {
      const e = rejection({ network: { mode: 'allowlist', allow: ['public.test', 'ok.test', entry] } });
      assert.ok(e instanceof TypeError, `${JSON.stringify(entry)} gave ${e}`);
      assert.equal(e.message, `network.allow[2] (${JSON.stringify(entry)}): ${why}`);
      assert.deepEqual(sc.getSandboxPolicy(), before, 'a rejected policy leaves the configured one');
    }
    // Validated in every mode, not only allowlist.
    const e = rejection({ network: { mode: 'unrestricted', allow: ['10.0.0.0/33'] } });
    assert.equal(e.message, 'network.allow[0] ("10.0.0.0/33"): prefix longer than 32');
    // A long entry is cut in the message.
    const long = rejection({ network: { allow: ['x'.repeat(300) + '/1'] } });
    assert.ok(long.message.startsWith(`network.allow[0] ("${'x'.repeat(80)}…"): `), long.message);
  });

  test('wrong types name the field', () => {
    for (const [input, message] of [
      [{ network: { denyPrivate: 'yes' } }, 'network.denyPrivate: must be a boolean'],
      [{ network: { allow: 'public.test' } }, 'network.allow: must be an array of strings'],
      [{ network: { allow: ['public.test', 42] } }, 'network.allow[1]: must be a string'],
      [{ network: { denyprivate: true } }, 'network.denyprivate: is not a known option'],
    ]) {
      const e = rejection(input);
      assert.ok(e instanceof TypeError, String(e));
      assert.equal(e.message, message);
    }
  });
});
