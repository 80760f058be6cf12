'use strict';

// Loads the native addon. Every supported platform's binary ships in the one
// package beside the napi-generated loader (../index.js), which picks the
// file for this machine. Before handing over, this module checks that such a
// file exists: on a platform without one the generated loader's message
// ("Cannot find native binding", blaming an npm bug) would mislead, so the
// error here names the platform and the supported ones instead.

const { currentPlatform, supportedPlatforms, unsupportedError } = require('./platform.js');

// An explicit override (NAPI_RS_NATIVE_LIBRARY_PATH) is the generated
// loader's business: it needs no shipped binary.
if (!process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
  const error = unsupportedError(currentPlatform(), supportedPlatforms());
  if (error) throw error;
}

module.exports = require('../index.js');
