/**
 * `scriptcage/hono`: correlation ids for Hono apps, and the header pair an
 * oRPC handler mounted in Hono reads and writes.
 */

import type { Context, MiddlewareHandler } from 'hono';
import type { CorrelationIdOptions } from './index';

export { CORRELATION_ID_HEADER } from './index';
export type { CorrelationIdOptions } from './index';

/** The Hono variables `correlationIdMiddleware` sets. */
export interface CorrelationIdVariables {
  /** The request's correlation id. */
  correlationId: string;
}

/**
 * A Hono middleware: keeps an acceptable `x-correlation-id` request header or
 * mints a new id, stores it as `c.get('correlationId')`, and sets it on the
 * response. Bad options throw a `TypeError` when the middleware is created.
 */
export declare function correlationIdMiddleware(
  options?: CorrelationIdOptions,
): MiddlewareHandler<{ Variables: CorrelationIdVariables }>;

/** The header pair an oRPC `RpcContext` carries. */
export interface OrpcHeaders {
  /** The inbound headers, carrying the request's correlation id. */
  requestHeaders: Headers;
  /** Empty; oRPC middlewares write here. */
  responseHeaders: Headers;
}

/**
 * The `{ requestHeaders, responseHeaders }` pair for an oRPC handler running
 * in this request. When `correlationIdMiddleware` ran first, `requestHeaders`
 * carries its id, so the oRPC middleware keeps the same one.
 */
export declare function orpcHeaders(c: Context): OrpcHeaders;

/**
 * Merges `responseHeaders` onto `response` (a copy when its headers are
 * immutable) and returns the response to send. `set-cookie` is appended;
 * other headers replace the response's own.
 */
export declare function applyResponseHeaders(response: Response, responseHeaders?: Headers): Response;
