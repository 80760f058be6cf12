// A typed version of a heartbeat check, as an editor with the
// @checkstack/healthcheck types would have it. scriptcage erases the types
// (lines and columns stay where they are) and runs the result:
//
//   scriptcage run examples/typed-check.ts \
//     --helper @checkstack/healthcheck:defineHealthCheck \
//     --context '{"service":"billing","lastHeartbeat":"2024-01-01T00:00:00Z"}'
//
// A .ts file is read as TypeScript (`--language ts`); `--language auto`
// would strip only because this file does not parse as JavaScript.

import type { HealthCheckContext } from "@checkstack/healthcheck";
import { defineHealthCheck } from "@checkstack/healthcheck";

interface HeartbeatContext extends HealthCheckContext {
  service: string;
  lastHeartbeat: string | number;
  maxAgeSeconds?: number;
}

interface HeartbeatResult {
  ok: boolean;
  service: string;
  ageSeconds: number;
  maxAgeSeconds: number;
}

const DEFAULTS = { maxAgeSeconds: 300 } as const;

function timestampOf(value: string | number): number {
  return typeof value === "number" ? value : Date.parse(value);
}

export default defineHealthCheck(async (context: HeartbeatContext): Promise<HeartbeatResult> => {
  const { service, lastHeartbeat, maxAgeSeconds = DEFAULTS.maxAgeSeconds } = context;
  if (typeof service !== "string" || service === "") {
    throw new TypeError("context.service must be a non-empty string");
  }
  const at = timestampOf(lastHeartbeat);
  if (!Number.isFinite(at)) {
    throw new TypeError(`context.lastHeartbeat is not a date: ${JSON.stringify(lastHeartbeat)}`);
  }
  const ageSeconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  return { ok: ageSeconds <= maxAgeSeconds, service, ageSeconds, maxAgeSeconds } satisfies HeartbeatResult;
});
