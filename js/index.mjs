// scriptcage (ES module): the same objects as the CommonJS entry, so both
// module systems share one runner state and one sandbox policy.

import cjs from './index.js';

export const {
  runEsmScript,
  defaultEsmScriptRunner,
  runShellScript,
  defaultShellScriptRunner,
  normaliseUserScript,
  rewriteHelperImports,
  configureSandbox,
  getSandboxPolicy,
  sandboxCapabilities,
  configureRunner,
  closeRunner,
  runnerStats,
  CORRELATION_ID_HEADER,
  correlationId,
} = cjs;

export default cjs;
