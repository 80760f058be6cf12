'use strict';

// Correlation ids: the JavaScript side of src/correlation.rs.
//
// The Rust module owns the id logic. This file only adapts calling
// conventions, in two ways that keep the hot paths off the Node-API boundary
// (docs/correlation.md has the measurements behind both):
//
// - Acceptance: Rust hands over, once at load, the source of a regular
//   expression built from the same constants its own check uses; it is
//   compiled here and applied to incoming ids.
// - Minting: Rust fills a buffer with a batch of ids in one call; they are
//   handed out one by one as flat latin1 strings (no string keeps the batch
//   alive).

const native = require('./native.js');

/** The header that carries the correlation id, in and out. */
const CORRELATION_ID_HEADER = 'x-correlation-id';

/** Length in bytes of one minted id (a canonical UUID). */
const ID_LENGTH = native.CORRELATION_ID_LENGTH;

/** Incoming ids kept with `validate: true` / `validate: false`. */
const STRICT_RULE = new RegExp(native.correlationIdPattern(true));
const LAX_RULE = new RegExp(native.correlationIdPattern(false));

/** Version 4 ids are minted this many at a time. */
const V4_BATCH = 256;

/** Upper bound of a version 7 batch (its size adapts to the call rate). */
const V7_MAX_BATCH = 256;

// Node's undocumented but long-standing Buffer#latin1Slice is the fastest way
// to copy a few bytes into a flat string on both Node and Bun; the documented
// toString('latin1', ...) is the fallback for runtimes without it.
const sliceLatin1 =
  typeof Buffer.prototype.latin1Slice === 'function'
    ? (buffer, start, end) => buffer.latin1Slice(start, end)
    : (buffer, start, end) => buffer.toString('latin1', start, end);

// Version 4: the ids are random, so a batch can be served at any time.
const v4Batch = Buffer.allocUnsafeSlow(V4_BATCH * ID_LENGTH);
let v4Next = v4Batch.length;

/** Returns a fresh version 4 id. */
function mintV4() {
  if (v4Next === v4Batch.length) {
    native.fillCorrelationIds(4, v4Batch, V4_BATCH);
    v4Next = 0;
  }
  const start = v4Next;
  v4Next = start + ID_LENGTH;
  return sliceLatin1(v4Batch, start, v4Next);
}

// Version 7: an id carries its mint time, so a batch is served only during
// the millisecond it was minted in (its ids are then indistinguishable from
// ids minted one by one), and ids are served in mint order, which Rust keeps
// monotonic across batches. The batch size follows demand: twice what the
// previous batch served, so a sparse caller wastes at most one id per call.
const v7Batch = Buffer.allocUnsafeSlow(V7_MAX_BATCH * ID_LENGTH);
let v7Next = 0;
let v7End = 0;
let v7Millisecond = -1;

/** Returns a fresh version 7 id. */
function mintV7() {
  const now = Date.now();
  if (v7Next === v7End || now !== v7Millisecond) {
    const served = v7Next / ID_LENGTH;
    const count = Math.min(V7_MAX_BATCH, Math.max(1, served * 2));
    v7Millisecond = now;
    v7End = native.fillCorrelationIds(7, v7Batch, count) * ID_LENGTH;
    v7Next = 0;
  }
  const start = v7Next;
  v7Next = start + ID_LENGTH;
  return sliceLatin1(v7Batch, start, v7Next);
}

/**
 * Checks `correlationId`'s options and returns the acceptance rule and the
 * minting function they select. Throws a TypeError naming the bad option.
 *
 * @param {{ validate?: boolean, version?: 4 | 7 } | null | undefined} options
 * @returns {{ rule: RegExp, mint: () => string }}
 */
function resolveOptions(options) {
  if (options === undefined || options === null) {
    return { rule: STRICT_RULE, mint: mintV4 };
  }
  if (typeof options !== 'object') {
    throw new TypeError(`correlationId: options must be an object, got ${typeof options}`);
  }
  const { validate = true, version = 4 } = options;
  if (typeof validate !== 'boolean') {
    throw new TypeError(`correlationId: options.validate must be a boolean, got ${describe(validate)}`);
  }
  if (version !== 4 && version !== 7) {
    throw new TypeError(`correlationId: options.version must be 4 or 7, got ${describe(version)}`);
  }
  return { rule: validate ? STRICT_RULE : LAX_RULE, mint: version === 7 ? mintV7 : mintV4 };
}

/** A short, safe description of a bad option value for an error message. */
function describe(value) {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return value === null ? 'null' : typeof value;
}

/**
 * Returns a function deciding correlation ids with fixed options: it keeps an
 * acceptable incoming id and mints a new one otherwise. Options are checked
 * once, here (see `correlationId`).
 *
 * @param {{ validate?: boolean, version?: 4 | 7 }} [options]
 * @returns {(incoming?: string | null) => string}
 */
function correlationIdDecider(options) {
  const { rule, mint } = resolveOptions(options);
  return (incoming) => (typeof incoming === 'string' && rule.test(incoming) ? incoming : mint());
}

/**
 * The correlation id for a request: `incoming` when it is acceptable, else a
 * freshly minted lower-case canonical UUID (version 4 unless
 * `version: 7`). Acceptable with `validate: true` (the default): 1 to 255
 * characters from `[A-Za-z0-9._~:=+/-]`; with `validate: false`: any
 * non-empty string. A value that is not a string is never kept.
 *
 * @param {string | null} [incoming]
 * @param {{ validate?: boolean, version?: 4 | 7 }} [options]
 * @returns {string}
 */
function correlationId(incoming, options) {
  if (options === undefined) {
    return typeof incoming === 'string' && STRICT_RULE.test(incoming) ? incoming : mintV4();
  }
  const { rule, mint } = resolveOptions(options);
  return typeof incoming === 'string' && rule.test(incoming) ? incoming : mint();
}

module.exports = { CORRELATION_ID_HEADER, correlationId, correlationIdDecider };
