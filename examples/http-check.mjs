// HTTP health check: fetch `context.url` and report whether it answered with
// a success status, and how long it took.
//
//   scriptcage run examples/http-check.mjs --context '{"url":"https://example.com/"}'
//
// context: { url?: string, method?: string, timeoutMs?: number, expectStatus?: number }
// result:  { ok: true, status, latencyMs, url } | { ok: false, status?, latencyMs, url, error }
//
// It never hangs and never throws for a network problem (no network, DNS
// failure, refused connection, slow server, sandbox with network "deny"):
// those are reported as { ok: false, error }.

const DEFAULT_URL = "https://example.com/";

export default async function httpCheck(context = {}) {
  const url = typeof context.url === "string" && context.url ? context.url : DEFAULT_URL;
  const method = context.method ?? "GET";
  const timeoutMs = Number.isFinite(context.timeoutMs) && context.timeoutMs > 0 ? context.timeoutMs : 5000;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);

  try {
    const response = await fetch(url, {
      method,
      redirect: "follow",
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Drain the body so the connection is released and the latency includes it.
    await response.arrayBuffer();
    const ok = context.expectStatus !== undefined ? response.status === context.expectStatus : response.ok;
    const result = { ok, status: response.status, latencyMs: elapsed(), url };
    if (!ok) result.error = `unexpected status ${response.status}`;
    return result;
  } catch (err) {
    const reason = err?.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : describe(err);
    return { ok: false, latencyMs: elapsed(), url, error: reason };
  }
}

// fetch() wraps the interesting part (ECONNREFUSED, ENOTFOUND, …) in `cause`.
function describe(err) {
  const cause = err?.cause;
  const detail = cause?.code ?? cause?.message;
  const message = err?.message ?? String(err);
  return detail && !message.includes(detail) ? `${message}: ${detail}` : message;
}
