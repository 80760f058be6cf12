'use strict';

// Public API of scriptcage. This layer only adapts calling conventions:
// option types, JSON.stringify of the context and JSON.parse of the result
// in the host's own engine, AbortSignal wiring. Everything else is Rust.

const native = require('./native.js');
const { fromNative } = require('./errors.js');
const { CORRELATION_ID_HEADER, correlationId } = require('./correlation.js');

const IS_BUN = typeof process.versions.bun === 'string';
const SAFE_HOST_KEYS = native.safeHostEnvKeys();

let nextRunId = 1;

const { installExitHooks } = require('./lifecycle.js');

function fail(field, message) {
  return new TypeError(`${field}: ${message}`);
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw fail('options', 'must be an object');
  }
}

function optionalString(options, field) {
  const v = options[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw fail(field, `must be a string, got ${typeof v}`);
  return v;
}

function timeoutOf(options) {
  const v = options.timeoutMs;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw fail('timeoutMs', 'must be a positive finite number of milliseconds');
  }
  return v;
}

const LANGUAGES = ['js', 'ts', 'auto'];

function languageOf(options) {
  const v = options.language;
  if (v === undefined || v === null) return undefined;
  if (!LANGUAGES.includes(v)) {
    const got = typeof v === 'string' ? JSON.stringify(v) : typeof v;
    throw fail('language', `must be "js", "ts" or "auto", got ${got}`);
  }
  return v;
}

function flatEnv(env) {
  if (env === undefined || env === null) return [];
  if (typeof env !== 'object' || Array.isArray(env)) throw fail('env', 'must be an object of string values');
  const flat = [];
  for (const key of Object.keys(env)) {
    const value = env[key];
    if (typeof value !== 'string') throw fail(`env.${key}`, `must be a string, got ${typeof value}`);
    flat.push(key, value);
  }
  return flat;
}

function hostEnv() {
  const flat = [];
  for (const key of SAFE_HOST_KEYS) {
    const value = process.env[key];
    if (value !== undefined) flat.push(key, value);
  }
  return flat;
}

function checkSignal(signal) {
  if (signal === undefined || signal === null) return undefined;
  if (typeof signal !== 'object' || typeof signal.addEventListener !== 'function' || typeof signal.aborted !== 'boolean') {
    throw fail('signal', 'must be an AbortSignal');
  }
  return signal;
}

// Runs `start(runId)` with the signal wired to the native cancel.
async function withSignal(signal, start) {
  installExitHooks();
  const runId = nextRunId++;
  if (nextRunId > 0xfffffff0) nextRunId = 1;
  const onAbort = () => native.cancelRun(runId);
  if (signal) signal.addEventListener('abort', onAbort, { once: true });
  try {
    const pending = start(runId);
    if (signal && signal.aborted) onAbort();
    return await pending;
  } catch (err) {
    throw fromNative(err);
  } finally {
    if (signal) signal.removeEventListener('abort', onAbort);
  }
}

function isPayload(v) {
  if (typeof v !== 'object' || v === null) return false;
  if (v.ok === true) return true;
  return v.ok === false && typeof v.error === 'string';
}

// Builds the result object with the seed's key order for each outcome.
function esmResult(raw) {
  const sandbox = JSON.parse(raw.sandboxJson);
  let out;
  if (raw.timedOut) {
    out = { stdout: '', stderr: '', timedOut: true, error: raw.error };
  } else if (raw.error !== undefined && raw.error !== null) {
    out = { stdout: raw.stdout, stderr: raw.stderr, timedOut: false, error: raw.error };
  } else {
    let payload;
    if (raw.payloadJson !== undefined && raw.payloadJson !== null) {
      try {
        const parsed = JSON.parse(raw.payloadJson);
        if (isPayload(parsed)) payload = parsed;
      } catch {
        // An unreadable report counts as no report.
      }
    }
    if (!payload) {
      out = {
        stdout: raw.stdout,
        stderr: raw.stderr,
        timedOut: false,
        error: raw.stderr.length > 0 ? raw.stderr : 'Script exited without producing a result',
      };
    } else if (payload.ok) {
      out = { result: payload.result, stdout: raw.stdout, stderr: raw.stderr, timedOut: false };
    } else {
      const error = raw.limitError != null ? raw.limitError : payload.error;
      out = { error, stack: payload.stack, stdout: raw.stdout, stderr: raw.stderr, timedOut: false };
    }
  }
  if (raw.outputTruncated) out.outputTruncated = true;
  out.sandbox = sandbox;
  out.usage = raw.usage;
  return out;
}

/**
 * Runs a user-authored module in a fresh, sandboxed runtime process.
 * Always returns a promise; invalid options reject with a TypeError.
 */
async function runEsmScript(options) {
  checkOptions(options);
  const script = options.script;
  if (typeof script !== 'string') throw fail('script', `must be a string, got ${typeof script}`);
  const timeoutMs = timeoutOf(options);
  const helperModuleName = optionalString(options, 'helperModuleName');
  const helperFunctionName = optionalString(options, 'helperFunctionName');
  const resolutionRoot = optionalString(options, 'resolutionRoot');
  const language = languageOf(options);
  const env = flatEnv(options.env);
  const signal = checkSignal(options.signal);
  // In the host's engine, so toJSON, Date, dropped keys and the TypeError
  // for BigInt or cycles behave exactly as JSON.stringify does.
  const contextJson = JSON.stringify(options.context);
  const raw = await withSignal(signal, (runId) =>
    native.runEsmNative({
      script,
      contextJson,
      timeoutMs,
      helperModuleName,
      helperFunctionName,
      resolutionRoot,
      env,
      hostEnv: hostEnv(),
      isBun: IS_BUN,
      runId,
      language,
    }),
  );
  return esmResult(raw);
}

const defaultEsmScriptRunner = { run: runEsmScript };

function normaliseUserScript(userScript) {
  if (typeof userScript !== 'string') throw fail('userScript', 'must be a string');
  return native.normaliseUserScript(userScript);
}

function rewriteHelperImports(args) {
  if (args === null || typeof args !== 'object') throw fail('options', 'must be an object');
  const { userScript, helperModuleName, helperUrl } = args;
  if (typeof userScript !== 'string') throw fail('userScript', 'must be a string');
  if (typeof helperModuleName !== 'string') throw fail('helperModuleName', 'must be a string');
  if (typeof helperUrl !== 'string') throw fail('helperUrl', 'must be a string');
  return native.rewriteHelperImportsNative(userScript, helperModuleName, helperUrl);
}

function configureSandbox(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw fail('policy', 'must be an object');
  }
  try {
    return JSON.parse(native.configureSandboxNative(JSON.stringify(input)));
  } catch (err) {
    throw fromNative(err);
  }
}

function getSandboxPolicy() {
  return JSON.parse(native.getSandboxPolicyNative());
}

let capabilities;
function sandboxCapabilities() {
  if (!capabilities) capabilities = Object.freeze(JSON.parse(native.sandboxCapabilitiesNative()));
  return { ...capabilities };
}

/** Sets the warm pool's size (0 disables it); returns the resolved settings. */
function configureRunner(options) {
  if (options === null || typeof options !== 'object') throw fail('options', 'must be an object');
  const out = {};
  if (options.warmProcesses !== undefined) {
    const n = options.warmProcesses;
    if (typeof n !== 'number') throw fail('warmProcesses', 'must be an integer from 0 to 64');
    try {
      out.warmProcesses = native.configureRunnerNative(n);
    } catch (err) {
      throw fromNative(err);
    }
  }
  for (const key of Object.keys(options)) {
    if (key !== 'warmProcesses') throw fail(key, 'is not a runner option');
  }
  return { warmProcesses: native.runnerStatsNative().warmProcesses, ...out };
}

/** Kills every idle pooled process; the pool warms up again on the next run. */
async function closeRunner() {
  native.closeRunnerNative();
}

/** Pool state: configured size, idle processes and their pids. */
function runnerStats() {
  return native.runnerStatsNative();
}

module.exports = {
  runEsmScript,
  configureRunner,
  closeRunner,
  runnerStats,
  get runShellScript() {
    return require('./shell.js').runShellScript;
  },
  get defaultShellScriptRunner() {
    return require('./shell.js').defaultShellScriptRunner;
  },
  defaultEsmScriptRunner,
  normaliseUserScript,
  rewriteHelperImports,
  configureSandbox,
  getSandboxPolicy,
  sandboxCapabilities,
  CORRELATION_ID_HEADER,
  correlationId,
  // Internal pieces shared with the shell runner.
  _internal: { fail, optionalString, timeoutOf, flatEnv, hostEnv, checkSignal, withSignal, checkOptions, IS_BUN },
};
