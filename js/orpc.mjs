// scriptcage/orpc (ES module): the correlation-id middleware for oRPC routers,
// built on the @orpc/server this module imports (an optional peer dependency).

import { os } from '@orpc/server';
import handler from './orpc-handler.js';

/** See `correlationHandler` in ./orpc-handler.js and orpc.d.ts. */
export const correlationMiddleware = os.middleware(handler.correlationHandler);
