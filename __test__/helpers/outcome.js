'use strict';

// A JSON-safe record of how a runner call settled. JSON alone would lose
// the difference between a key that is absent and a key whose value is
// `undefined` (the seed returns `stack: undefined` and `result: undefined`),
// so the record keeps the key list and tags every value.

function encodeValue(v) {
  return v === undefined ? { undefined: true } : { value: v };
}

function encodeResolved(result) {
  if (result === null || typeof result !== 'object') {
    return { kind: 'resolved-non-object', value: encodeValue(result), type: typeof result };
  }
  const keys = Object.keys(result);
  const values = {};
  for (const k of keys) values[k] = encodeValue(result[k]);
  return { kind: 'resolved', keys, values };
}

function encodeRejected(err) {
  return {
    kind: 'rejected',
    isTypeError: err instanceof TypeError,
    name: err && typeof err === 'object' ? String(err.name) : typeof err,
    message: err && typeof err === 'object' && 'message' in err ? String(err.message) : String(err),
  };
}

/** Awaits `promise` and returns its record, passed through JSON once. */
async function settle(promiseOrThunk) {
  let rec;
  try {
    const p = typeof promiseOrThunk === 'function' ? promiseOrThunk() : promiseOrThunk;
    rec = encodeResolved(await p);
  } catch (err) {
    rec = encodeRejected(err);
  }
  return JSON.parse(JSON.stringify(rec));
}

module.exports = { encodeValue, encodeResolved, encodeRejected, settle };
