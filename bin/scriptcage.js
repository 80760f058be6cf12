#!/usr/bin/env node
'use strict';

// scriptcage command line: run one user script (an ES module or a shell
// script) in a fresh sandboxed process and print the run result as JSON.
//
//   exit 0  the script produced a result (ESM: no `error`; shell: exit code 0)
//   exit 1  script error, timeout, non-zero exit code, refused by the sandbox
//   exit 2  bad usage (one-line message on stderr)
//
// Works under Node (>= 20) and Bun: the child runtime is the host's own.

const fs = require('node:fs');
const path = require('node:path');

const USAGE =
  'usage: scriptcage run <file.mjs|-> [--context <json>] [--timeout <ms>] [--shell] ' +
  '[--sandbox off|standard|strict] [--helper <module>:<function>] [--env KEY=VALUE]... ' +
  '[--language js|ts|auto]';

const HELP = `${USAGE}

Runs a user script in a fresh, sandboxed process and prints the run result as
pretty JSON on stdout.

Arguments:
  <file.mjs|->               the script file (.mjs, .js, .ts, .mts, ...); "-"
                             reads the script from stdin

Options:
  --context <json>           the value the script sees as its context (ESM only;
                             default {}); an exported default function is called
                             with it, and it is globalThis.context as JSON text
  --timeout <ms>             wall-clock limit in milliseconds (default 10000)
  --shell                    run the file as a shell script (sh -c) instead of an
                             ES module
  --sandbox <profile>        off | standard | strict (default: $SCRIPTCAGE_SANDBOX,
                             else standard)
  --helper <module>:<fn>     provide a helper module for the script: imports of
                             <module> resolve to a module exporting the identity
                             function <fn> (ESM only), e.g.
                             --helper @checkstack/healthcheck:defineHealthCheck
  --env KEY=VALUE            add a variable to the script's environment
                             (repeatable; the sandbox's denylist still applies)
  --language <lang>          js | ts | auto: how to read an ES module script
                             (default: ts for .ts, .mts and .cts files, else
                             auto, which strips TypeScript types only when the
                             script does not parse as JavaScript)
  -h, --help                 show this help
  -v, --version              print the scriptcage version

Exit status:
  0  the script produced a result (ES module: no "error"; shell: exit code 0)
  1  the script threw, timed out, exited non-zero or was refused by the sandbox
  2  bad usage

Examples:
  scriptcage run examples/http-check.mjs --context '{"url":"https://example.com"}'
  echo 'return 6 * 7' | scriptcage run -
  scriptcage run examples/typed-check.ts
  scriptcage run examples/check.sh --shell --sandbox strict
`;

const DEFAULT_TIMEOUT_MS = 10000;
const PROFILES = ['off', 'standard', 'strict'];
const LANGUAGES = ['js', 'ts', 'auto'];
const TS_EXTENSIONS = ['.ts', '.mts', '.cts'];
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {
    command: undefined,
    file: undefined,
    context: undefined,
    contextGiven: false,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    shell: false,
    sandbox: undefined,
    helper: undefined,
    env: undefined,
    language: undefined,
    help: false,
    version: false,
  };
  const positional = [];
  let onlyPositional = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (onlyPositional || arg === '-' || !arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositional = true;
      continue;
    }
    let name = arg;
    let inline;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 2) {
      name = arg.slice(0, eq);
      inline = arg.slice(eq + 1);
    }
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
      return argv[++i];
    };
    const noValue = () => {
      if (inline !== undefined) throw new UsageError(`${name} takes no value`);
    };
    switch (name) {
      case '-h':
      case '--help':
        noValue();
        opts.help = true;
        break;
      case '-v':
      case '--version':
        noValue();
        opts.version = true;
        break;
      case '--shell':
        noValue();
        opts.shell = true;
        break;
      case '--context': {
        const text = value();
        try {
          opts.context = JSON.parse(text);
        } catch (err) {
          throw new UsageError(`--context is not valid JSON (${err.message})`);
        }
        opts.contextGiven = true;
        break;
      }
      case '--timeout': {
        const text = value();
        const ms = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
        if (!Number.isFinite(ms) || ms <= 0) {
          throw new UsageError(`--timeout must be a positive number of milliseconds, got ${JSON.stringify(text)}`);
        }
        opts.timeoutMs = ms;
        break;
      }
      case '--sandbox': {
        const profile = value();
        if (!PROFILES.includes(profile)) {
          throw new UsageError(`--sandbox must be one of ${PROFILES.join(', ')}, got ${JSON.stringify(profile)}`);
        }
        opts.sandbox = profile;
        break;
      }
      case '--helper': {
        const spec = value();
        const colon = spec.lastIndexOf(':');
        const moduleName = colon > 0 ? spec.slice(0, colon) : '';
        const functionName = colon > 0 ? spec.slice(colon + 1) : '';
        if (!moduleName || !IDENTIFIER.test(functionName)) {
          throw new UsageError(
            `--helper must be <module>:<function> with a JavaScript identifier as the function, got ${JSON.stringify(spec)}`,
          );
        }
        opts.helper = { moduleName, functionName };
        break;
      }
      case '--language': {
        const language = value();
        if (!LANGUAGES.includes(language)) {
          throw new UsageError(`--language must be one of ${LANGUAGES.join(', ')}, got ${JSON.stringify(language)}`);
        }
        opts.language = language;
        break;
      }
      case '--env': {
        const pair = value();
        const at = pair.indexOf('=');
        if (at <= 0) throw new UsageError(`--env must be KEY=VALUE, got ${JSON.stringify(pair)}`);
        opts.env = opts.env || {};
        opts.env[pair.slice(0, at)] = pair.slice(at + 1);
        break;
      }
      default:
        throw new UsageError(`unknown option ${name}`);
    }
  }

  if (opts.help || opts.version) return opts;
  if (positional.length === 0) throw new UsageError('missing command');
  opts.command = positional[0];
  if (opts.command !== 'run') throw new UsageError(`unknown command ${JSON.stringify(opts.command)}`);
  if (positional.length < 2) throw new UsageError('missing script file (use - for stdin)');
  if (positional.length > 2) throw new UsageError(`unexpected argument ${JSON.stringify(positional[2])}`);
  opts.file = positional[1];
  if (opts.shell && opts.contextGiven) throw new UsageError('--context applies to ES modules, not --shell');
  if (opts.shell && opts.helper) throw new UsageError('--helper applies to ES modules, not --shell');
  if (opts.shell && opts.language) throw new UsageError('--language applies to ES modules, not --shell');
  if (!opts.shell && !opts.language && TS_EXTENSIONS.includes(path.extname(opts.file).toLowerCase())) {
    opts.language = 'ts';
  }
  return opts;
}

function readScript(file) {
  if (file === '-') {
    try {
      return fs.readFileSync(0, 'utf8');
    } catch (err) {
      if (err.code === 'EAGAIN') return readStdinSlow();
      throw new UsageError(`cannot read the script from stdin (${err.code || err.message})`);
    }
  }
  try {
    return fs.readFileSync(path.resolve(file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file} (${err.code || err.message})`);
  }
}

// Non-blocking stdin (a TTY or some pipes under Bun): read it as a stream.
function readStdinSlow() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(Buffer.from(c)));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', (err) => reject(new UsageError(`cannot read the script from stdin (${err.message})`)));
  });
}

function writeAndExit(text, code) {
  process.exitCode = code;
  process.stdout.write(text, () => process.exit(code));
}

// One line on stderr: what was wrong, then the usage.
function usageError(message) {
  process.stderr.write(`scriptcage: ${message} (${USAGE}; see --help)\n`);
  process.exit(2);
}

async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  }
  if (opts.help) return writeAndExit(HELP, 0);
  if (opts.version) return writeAndExit(`${require('../package.json').version}\n`, 0);

  let script;
  try {
    script = await readScript(opts.file);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  }

  const scriptcage = require('../js/index.js');
  // One run per invocation: pre-started (warm) processes would only be killed.
  if (typeof scriptcage.configureRunner === 'function') scriptcage.configureRunner({ warmProcesses: 0 });
  if (opts.sandbox) scriptcage.configureSandbox({ profile: opts.sandbox });

  let result;
  try {
    if (opts.shell) {
      result = await scriptcage.runShellScript({ script, timeoutMs: opts.timeoutMs, env: opts.env });
    } else {
      result = await scriptcage.runEsmScript({
        script,
        context: opts.contextGiven ? opts.context : {},
        timeoutMs: opts.timeoutMs,
        helperModuleName: opts.helper && opts.helper.moduleName,
        helperFunctionName: opts.helper && opts.helper.functionName,
        env: opts.env,
        language: opts.language,
      });
    }
  } catch (err) {
    // The runners reject only on invalid options.
    if (err instanceof TypeError) return usageError(err.message);
    throw err;
  }

  const ok = opts.shell ? result.exitCode === 0 && !result.timedOut : result.error === undefined && !result.timedOut;
  writeAndExit(`${JSON.stringify(result, null, 2)}\n`, ok ? 0 : 1);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`scriptcage: ${(err && err.stack) || err}\n`);
  process.exit(1);
});
