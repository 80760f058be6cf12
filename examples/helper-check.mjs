// Heartbeat freshness check written against the @checkstack/healthcheck
// helper. scriptcage provides that module when you name it and its function:
//
//   scriptcage run examples/helper-check.mjs \
//     --helper @checkstack/healthcheck:defineHealthCheck \
//     --context '{"service":"billing","lastHeartbeat":"2024-01-01T00:00:00Z","maxAgeSeconds":300}'
//
// The helper is an identity function: the default export stays a function,
// which scriptcage calls with the context.
//
// context: { service: string, lastHeartbeat: string (ISO 8601) | number (ms), maxAgeSeconds?: number }
// result:  { ok, service, ageSeconds, maxAgeSeconds }
// A context without `service` or with an unreadable `lastHeartbeat` is a
// configuration error: the check throws, the run reports `error`.

import { defineHealthCheck } from "@checkstack/healthcheck";

export default defineHealthCheck(async (context) => {
  const { service, lastHeartbeat, maxAgeSeconds = 300 } = context ?? {};
  if (typeof service !== "string" || service === "") {
    throw new TypeError("context.service must be a non-empty string");
  }
  const at = typeof lastHeartbeat === "number" ? lastHeartbeat : Date.parse(lastHeartbeat);
  if (!Number.isFinite(at)) {
    throw new TypeError(`context.lastHeartbeat is not a date: ${JSON.stringify(lastHeartbeat)}`);
  }
  const ageSeconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  return { ok: ageSeconds <= maxAgeSeconds, service, ageSeconds, maxAgeSeconds };
});
