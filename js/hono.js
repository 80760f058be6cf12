'use strict';

// scriptcage/hono (CommonJS): correlation ids for Hono apps, and the glue that
// lets an oRPC handler mounted in Hono read and echo them. Nothing here
// imports hono itself: a Hono middleware is a plain `(c, next)` function.

const { CORRELATION_ID_HEADER, correlationIdDecider } = require('./correlation.js');

/**
 * A Hono middleware that decides the request's correlation id from the
 * `x-correlation-id` header (kept when acceptable under `options`, otherwise
 * freshly minted), stores it as `c.get('correlationId')`, and sets it on the
 * response, whatever produced that response (a handler, a raw `Response`,
 * the error handler). Bad options throw a TypeError here, not per request.
 *
 * @param {{ validate?: boolean, version?: 4 | 7 }} [options]
 */
function correlationIdMiddleware(options) {
  const decide = correlationIdDecider(options);
  return async function correlationId(c, next) {
    const id = decide(c.req.header(CORRELATION_ID_HEADER));
    c.set('correlationId', id);
    await next();
    setHeader(c, CORRELATION_ID_HEADER, id);
  };
}

/**
 * Sets one header on `c.res`, replacing the response with a copy when its
 * headers are immutable (a `Response` that came from `fetch`, for one).
 */
function setHeader(c, name, value) {
  try {
    c.res.headers.set(name, value);
  } catch {
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set(name, value);
  }
}

/**
 * The `{ requestHeaders, responseHeaders }` pair for the context of an oRPC
 * handler running inside this Hono request. `requestHeaders` are the inbound
 * headers; when `correlationIdMiddleware` ran first and its id differs from
 * the inbound header (absent or replaced), they are a copy carrying that id,
 * so oRPC's `correlationMiddleware` keeps it and the request has one id
 * throughout. `responseHeaders` starts empty; merge it onto the handler's
 * response with `applyResponseHeaders`.
 *
 * @param {{ req: { raw: Request }, get: (key: string) => unknown }} c
 * @returns {{ requestHeaders: Headers, responseHeaders: Headers }}
 */
function orpcHeaders(c) {
  const inbound = c.req.raw.headers;
  const id = c.get('correlationId');
  let requestHeaders = inbound;
  if (typeof id === 'string' && inbound.get(CORRELATION_ID_HEADER) !== id) {
    requestHeaders = new Headers(inbound);
    requestHeaders.set(CORRELATION_ID_HEADER, id);
  }
  return { requestHeaders, responseHeaders: new Headers() };
}

/**
 * Merges `responseHeaders` (written by oRPC middlewares) onto `response` and
 * returns the response that carries them: `response` itself, or a copy when
 * its headers are immutable. A merged header replaces the response's value of
 * the same name, except `set-cookie`, which is appended.
 *
 * @param {Response} response
 * @param {Headers | undefined} responseHeaders
 * @returns {Response}
 */
function applyResponseHeaders(response, responseHeaders) {
  if (!responseHeaders) return response;
  const entries = [...responseHeaders];
  if (entries.length === 0) return response;
  let target = response;
  try {
    merge(target.headers, entries);
  } catch {
    target = new Response(response.body, response);
    merge(target.headers, entries);
  }
  return target;
}

/** Writes header entries onto `headers` (see `applyResponseHeaders`). */
function merge(headers, entries) {
  for (const [name, value] of entries) {
    if (name === 'set-cookie') headers.append(name, value);
    else headers.set(name, value);
  }
}

module.exports = { CORRELATION_ID_HEADER, correlationIdMiddleware, orpcHeaders, applyResponseHeaders };
