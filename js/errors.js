'use strict';

// Maps errors from the native layer to the JavaScript error classes the API
// promises: invalid options become a TypeError whose message names the
// field (the message itself comes from Rust).

function fromNative(err) {
  if (err && err.code === 'InvalidArg') {
    const e = new TypeError(err.message);
    return e;
  }
  return err;
}

module.exports = { fromNative };
