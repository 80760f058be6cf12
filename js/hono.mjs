// scriptcage/hono (ES module): the same functions as the CommonJS entry.

import hono from './hono.js';

export const { CORRELATION_ID_HEADER, correlationIdMiddleware, orpcHeaders, applyResponseHeaders } = hono;
