'use strict';

// correlationId(): acceptance rule, minting, options (api.md §4).
// Runs under `node --test` and `bun test`.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const { CORRELATION_ID_HEADER, correlationId } = require('../js/correlation.js');
const native = require('../index.js');

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const PUNCTUATION = '._~:=+/-';

/** Unix milliseconds carried by a version 7 UUID. */
function v7Millis(id) {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** Resolves after `ms` milliseconds. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asserts that `incoming` is not kept: a fresh v4 id comes back instead. */
function assertReplaced(incoming, options) {
  const id = correlationId(incoming, options);
  assert.notEqual(id, incoming);
  assert.match(id, UUID_V4, `replacement for ${JSON.stringify(incoming)}`);
}

describe('CORRELATION_ID_HEADER', () => {
  test('is the lower-case header name', () => {
    assert.equal(CORRELATION_ID_HEADER, 'x-correlation-id');
  });
});

describe('acceptance (validate: true, the default)', () => {
  test('absent, null, undefined and empty incoming ids mint a v4 id', () => {
    assert.match(correlationId(), UUID_V4);
    assert.match(correlationId(undefined), UUID_V4);
    assert.match(correlationId(null), UUID_V4);
    assert.match(correlationId(''), UUID_V4);
  });

  test('common id shapes are kept verbatim', () => {
    for (const id of [
      '0b7c9f6e-3c5d-4e8f-9a1b-2c3d4e5f6a7b',
      '0B7C9F6E-3C5D-4E8F-9A1B-2C3D4E5F6A7B',
      '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'dGhpcyBpcyBiYXNlNjQ=',
      'x',
    ]) {
      assert.equal(correlationId(id), id);
    }
  });

  test('each allowed punctuation character is kept, alone and inside an id', () => {
    for (const c of PUNCTUATION) {
      assert.equal(correlationId(c), c);
      assert.equal(correlationId(`a${c}b`), `a${c}b`);
    }
    assert.equal(correlationId(PUNCTUATION), PUNCTUATION);
  });

  test('255 characters are kept, 256 are replaced', () => {
    const max = 'a'.repeat(255);
    assert.equal(correlationId(max), max);
    assertReplaced('a'.repeat(256));
    assertReplaced('a'.repeat(1_000_000));
  });

  test('control characters, CR/LF, spaces, quotes and other punctuation are replaced', () => {
    for (const bad of [
      'a\rb',
      'a\nb',
      'id\r\nx-injected: 1',
      'a\tb',
      'a\0b',
      'a\u007fb',
      'a b',
      ' ab',
      'ab ',
      'a"b',
      "a'b",
      'a`b',
      'a<b',
      'a;b',
      'a,b',
      'a\\b',
      'a%20b',
    ]) {
      assertReplaced(bad);
    }
  });

  test('non-ASCII characters are replaced', () => {
    for (const bad of ['é', 'idé', 'a\u00a0b', 'a\u2028b', 'a\u{1F600}b', 'a\ud800b', 'ｉｄ']) {
      assertReplaced(bad);
    }
  });

  test('values that are not strings are never kept', () => {
    for (const bad of [42, true, {}, ['abc'], { length: 3 }, Symbol('x'), () => 'id']) {
      assert.match(correlationId(bad), UUID_V4);
    }
  });

  test('the decision matches the Rust rule for every UTF-16 code unit', () => {
    const mismatches = [];
    for (let unit = 0; unit <= 0xffff; unit++) {
      const id = `a${String.fromCharCode(unit)}b`;
      const kept = correlationId(id) === id;
      if (kept !== native.isAcceptableCorrelationId(id)) mismatches.push(unit.toString(16));
    }
    assert.deepEqual(mismatches, []);
  });
});

describe('validate: false (the seed rule)', () => {
  test('any non-empty string is kept verbatim', () => {
    for (const id of ['a b', 'a\r\nb', '"quoted"', 'é', 'a'.repeat(10_000), ' ']) {
      assert.equal(correlationId(id, { validate: false }), id);
    }
  });

  test('empty, absent and non-string values still mint', () => {
    for (const incoming of ['', null, undefined, 42]) {
      assert.match(correlationId(incoming, { validate: false }), UUID_V4);
    }
    assert.match(correlationId(null, { validate: false, version: 7 }), UUID_V7);
  });
});

describe('options', () => {
  test('explicit defaults behave like no options', () => {
    assert.equal(correlationId('ok', { validate: true, version: 4 }), 'ok');
    assert.match(correlationId(null, {}), UUID_V4);
    assert.match(correlationId(null, null), UUID_V4);
    assert.match(correlationId(null, { validate: undefined, version: undefined }), UUID_V4);
  });

  test('a bad version throws a TypeError naming it', () => {
    for (const version of [5, 1, 0, '4', '7', 4.5, NaN, null, {}]) {
      assert.throws(
        () => correlationId('ok', { version }),
        (err) => err instanceof TypeError && /version/.test(err.message),
        `version ${String(version)}`,
      );
    }
  });

  test('a bad validate throws a TypeError naming it', () => {
    for (const validate of ['yes', 1, 0, null, {}]) {
      assert.throws(
        () => correlationId('ok', { validate }),
        (err) => err instanceof TypeError && /validate/.test(err.message),
        `validate ${String(validate)}`,
      );
    }
  });

  test('options that are not an object throw a TypeError', () => {
    for (const options of ['strict', 7, true]) {
      assert.throws(() => correlationId('ok', options), TypeError);
    }
  });
});

describe('minting', () => {
  test('v4 ids are lower-case canonical UUIDs with version nibble 4', () => {
    for (let i = 0; i < 1000; i++) assert.match(correlationId(), UUID_V4);
  });

  test('v7 ids are lower-case canonical UUIDs with version nibble 7', () => {
    for (let i = 0; i < 1000; i++) assert.match(correlationId(null, { version: 7 }), UUID_V7);
  });

  test('interleaved v4 and v7 requests each get their own version', () => {
    for (let i = 0; i < 600; i++) {
      assert.match(correlationId(), UUID_V4);
      assert.match(correlationId(undefined, { version: 7 }), UUID_V7);
    }
  });

  test('1 000 000 minted v4 ids contain no duplicate', () => {
    const seen = new Set();
    for (let i = 0; i < 1_000_000; i++) seen.add(correlationId());
    assert.equal(seen.size, 1_000_000);
  });

  test('v7 ids sort in mint order, within and across batches', async () => {
    const ids = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 300; i++) ids.push(correlationId(null, { version: 7 }));
      await sleep(2);
    }
    for (let i = 1; i < ids.length; i++) {
      assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} < ${ids[i]} at ${i}`);
    }
    assert.equal(new Set(ids).size, ids.length);
  });

  test('a v7 id carries the time it was handed out, even after a pause', async () => {
    for (let round = 0; round < 5; round++) {
      // A burst fills a batch; the pause then makes whatever is left stale.
      for (let i = 0; i < 100; i++) correlationId(null, { version: 7 });
      await sleep(3);
      const before = Date.now();
      const id = correlationId(null, { version: 7 });
      const after = Date.now();
      const stamp = v7Millis(id);
      assert.ok(before <= stamp && stamp <= after, `${before} <= ${stamp} <= ${after}`);
    }
  });
});
