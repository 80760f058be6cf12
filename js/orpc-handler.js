'use strict';

// The body of scriptcage/orpc's correlationMiddleware, kept apart from
// @orpc/server so that the CommonJS entry (js/orpc.js) and the ES module entry
// (js/orpc.mjs) each wrap it with `os.middleware` from the @orpc/server they
// load natively (that package is ESM-only).

const { CORRELATION_ID_HEADER, correlationId } = require('./correlation.js');

/**
 * Per-request correlation: decides the id from the `x-correlation-id` request
 * header (an acceptable incoming id is kept, anything else is replaced by a
 * fresh UUID v4), echoes it on `context.responseHeaders` when present, and
 * hands the rest of the chain a logger bound to
 * `{ correlationId, pluginId, userId? }` (the base logger when it has no
 * `child`). Only `logger` is passed on in the new context; oRPC merges it
 * onto the existing one.
 *
 * @param {{ context: any, next: (options: { context: { logger: unknown } }) => any }} options
 */
async function correlationHandler({ context, next }) {
  const id = correlationId(context.requestHeaders?.get(CORRELATION_ID_HEADER));
  context.responseHeaders?.set(CORRELATION_ID_HEADER, id);

  const meta = { correlationId: id, pluginId: context.pluginMetadata.pluginId };
  const user = context.user;
  if (typeof user === 'object' && user !== null && 'id' in user) {
    meta.userId = user.id;
  }

  const base = context.logger;
  const logger = base.child ? base.child(meta) : base;
  return next({ context: { logger } });
}

module.exports = { correlationHandler };
