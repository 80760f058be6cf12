// Compiled by __test__/orpc.test.js with `tsc --strict --noEmit`: a router
// written the way the seed's plugins are must type-check with scriptcage/orpc.
import { implement, os, call, ORPCError } from '@orpc/server';
import { oc } from '@orpc/contract';
import { correlationMiddleware } from 'scriptcage/orpc';
import type { CorrelationContext } from 'scriptcage/orpc';

interface Logger {
  info(message: string, meta?: Record<string, unknown>): void;
  child?(meta: Record<string, unknown>): Logger;
}

interface RealUser {
  type: 'user';
  id: string;
}

interface RpcContext {
  logger: Logger;
  pluginMetadata: { pluginId: string; version?: string };
  user?: RealUser | { type: 'anonymous' };
  requestHeaders?: Headers;
  responseHeaders?: Headers;
}

const contract = oc.router({ ping: oc });

const autoAuthMiddleware = os.$context<RpcContext>().middleware(async ({ context, next }) => {
  if (!context.user || !('id' in context.user)) throw new ORPCError('UNAUTHORIZED');
  return next();
});

// The seed's usage: correlation first, then auth.
const pub = implement(contract).$context<RpcContext>().use(correlationMiddleware).use(autoAuthMiddleware);

export const router = pub.router({
  ping: pub.ping.handler(({ context }) => {
    // The logger keeps the caller's own type after the middleware.
    const logger: Logger = context.logger;
    logger.info('ping');
    return 'pong';
  }),
});

// The builder flavour, too.
export const viaOs = os
  .$context<RpcContext>()
  .use(correlationMiddleware)
  .handler(({ context }) => context.pluginMetadata.pluginId);

export async function run(ctx: RpcContext): Promise<unknown> {
  return call(router.ping, undefined, { context: ctx });
}

// A logger without `child` is fine.
const plainLogger: Logger = { info() {} };
export const minimal: CorrelationContext = { logger: plainLogger, pluginMetadata: { pluginId: 'p' } };

// The export is typed, not `any`.
type IsAny<T> = 0 extends 1 & T ? true : false;
export const typed: false = false as IsAny<typeof correlationMiddleware>;

// A context whose pluginId is not a string is refused.
interface WrongContext {
  logger: Logger;
  pluginMetadata: { pluginId: number };
}
// @ts-expect-error pluginMetadata.pluginId must be a string
export const wrong = os.$context<WrongContext>().use(correlationMiddleware);
