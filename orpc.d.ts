/**
 * `scriptcage/orpc`: correlation ids for oRPC routers. Needs the optional
 * peer dependency `@orpc/server`.
 */

import type { DecoratedMiddleware } from '@orpc/server';

/**
 * What the middleware needs of a logger: nothing but, optionally, `child`.
 * With `child`, the rest of the chain gets `child(meta)`; without it, the
 * logger itself.
 */
export type CorrelationLogger = object & {
  child?(meta: Record<string, unknown>): unknown;
};

/** The part of the oRPC context that `correlationMiddleware` reads. */
export interface CorrelationContext {
  /** Inbound request headers; `x-correlation-id` is read from here. */
  requestHeaders?: Headers;
  /** Response headers; the decided id is written here as `x-correlation-id`. */
  responseHeaders?: Headers;
  /** The calling plugin; its `pluginId` is bound on the logger. */
  pluginMetadata: { pluginId: string };
  /** Replaced, for the rest of the chain, by `logger.child(meta)`. */
  logger: CorrelationLogger;
  /** When an object with an `id`, that id is bound as `userId`. */
  user?: unknown;
}

/**
 * The per-request correlation middleware. It keeps an acceptable incoming
 * `x-correlation-id` (1-255 characters from `[A-Za-z0-9._~:=+/-]`) or mints a
 * UUID v4, echoes it on `context.responseHeaders`, and passes on a logger
 * bound to `{ correlationId, pluginId, userId? }` (`child` returns the
 * caller's own logger kind, so the context type is left as it is).
 *
 * Use it before authentication, so auth failures log with the id:
 * `implement(contract).$context<Ctx>().use(correlationMiddleware)`.
 */
export declare const correlationMiddleware: DecoratedMiddleware<
  CorrelationContext,
  Record<never, never>,
  unknown,
  any,
  any,
  any
>;
