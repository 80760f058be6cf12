// Compiled by __test__/hono.test.js with `tsc --strict --noEmit`.
import { Hono } from 'hono';
import {
  correlationIdMiddleware,
  orpcHeaders,
  applyResponseHeaders,
  CORRELATION_ID_HEADER,
  type CorrelationIdVariables,
} from 'scriptcage/hono';

const app = new Hono<{ Variables: CorrelationIdVariables }>();
app.use('*', correlationIdMiddleware({ version: 7 }));
app.get('/id', (c) => {
  const id: string = c.get('correlationId');
  return c.json({ id, header: CORRELATION_ID_HEADER });
});
app.all('/rpc/*', async (c) => {
  const { requestHeaders, responseHeaders } = orpcHeaders(c);
  const response: Response = new Response(requestHeaders.get(CORRELATION_ID_HEADER));
  return applyResponseHeaders(response, responseHeaders);
});

// Chained use carries the variable type too.
export const chained = new Hono().use(correlationIdMiddleware()).get('/', (c) => c.text(c.get('correlationId')));
export default app;

// The exports are typed, not `any`.
type IsAny<T> = 0 extends 1 & T ? true : false;
export const typed: [false, false, false] = [
  false as IsAny<typeof correlationIdMiddleware>,
  false as IsAny<ReturnType<typeof orpcHeaders>['requestHeaders']>,
  false as IsAny<typeof applyResponseHeaders>,
];

// @ts-expect-error version is 4 or 7
correlationIdMiddleware({ version: 5 });
