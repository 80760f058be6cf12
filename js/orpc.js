'use strict';

// scriptcage/orpc (CommonJS): the correlation-id middleware for oRPC routers.
// @orpc/server is an optional peer dependency, loaded here with require(),
// which needs a runtime that can require an ES module (Bun, Node >= 20.19);
// older Node versions use the ES module entry, js/orpc.mjs.

const { os } = require('@orpc/server');
const { correlationHandler } = require('./orpc-handler.js');

/** See `correlationHandler` in ./orpc-handler.js and orpc.d.ts. */
const correlationMiddleware = os.middleware(correlationHandler);

module.exports = { correlationMiddleware };
