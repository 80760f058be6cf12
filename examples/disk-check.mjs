// Host resources check in the legacy style: no import/export, just a body
// that `return`s the result (scriptcage wraps it in an async function, as
// @checkstack/backend-api does). Built-in modules come from dynamic import().
//
//   scriptcage run examples/disk-check.mjs --context '{"minFreeMemBytes":104857600}'
//
// context (all optional): { path: string, minFreeBytes: number, minFreeMemBytes: number }
// result: { ok, problems, disk: { path, freeBytes, totalBytes } | null, memory, uptimeSeconds, loadAverage }

const fs = await import("node:fs");
const os = await import("node:os");

const ctx = globalThis.context ?? {};
const path = ctx.path ?? ".";
const minFreeBytes = ctx.minFreeBytes ?? 0;
const minFreeMemBytes = ctx.minFreeMemBytes ?? 0;
const problems = [];

let disk = null;
try {
  const s = fs.statfsSync(path);
  disk = { path, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  if (disk.freeBytes < minFreeBytes) problems.push(`only ${disk.freeBytes} bytes free on ${path}`);
} catch (err) {
  problems.push(`cannot stat ${path}: ${err.code ?? err.message}`);
}

const memory = { freeBytes: os.freemem(), totalBytes: os.totalmem() };
if (memory.freeBytes < minFreeMemBytes) problems.push(`only ${memory.freeBytes} bytes of memory free`);

return {
  ok: problems.length === 0,
  problems,
  disk,
  memory,
  uptimeSeconds: Math.round(os.uptime()),
  loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
};
