'use strict';

// The shell runner's calling conventions; the work is in src/shell.rs.

const native = require('./native.js');
const { _internal: c } = require('./index.js');

async function runShellScript(options) {
  c.checkOptions(options);
  const script = options.script;
  if (typeof script !== 'string') throw c.fail('script', `must be a string, got ${typeof script}`);
  const timeoutMs = c.timeoutOf(options);
  const cwd = c.optionalString(options, 'cwd');
  const env = c.flatEnv(options.env);
  const signal = c.checkSignal(options.signal);
  const raw = await c.withSignal(signal, (runId) =>
    native.runShellNative({ script, timeoutMs, cwd, env, hostEnv: c.hostEnv(), runId }),
  );
  const out = { exitCode: raw.exitCode, stdout: raw.stdout, stderr: raw.stderr, timedOut: raw.timedOut };
  if (raw.outputTruncated) out.outputTruncated = true;
  out.sandbox = JSON.parse(raw.sandboxJson);
  out.usage = raw.usage;
  return out;
}

const defaultShellScriptRunner = { run: runShellScript };

module.exports = { runShellScript, defaultShellScriptRunner };
