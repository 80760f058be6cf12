'use strict';

// Normalisation applied to the text fields (`stdout`, `stderr`, `error`,
// `stack`) before the seed's results and scriptcage's are compared. Each
// rule removes a difference that is incidental to the two implementations,
// never one in what a caller can rely on:
//
// 1. RUN DIRECTORY. Each run has a private temporary directory with a
//    random name: the seed's is `<tmpdir>/checkstack-script-XXXXXX`,
//    scriptcage's `<tmpdir>/scriptcage-XXXXXX` (or
//    `<resolutionRoot>/.scriptcage-XXXXXX`). Both become `<RUN_DIR>`; the
//    file names inside it (user.mjs, runner.mjs, _helpers.mjs) are kept.
// 2. MARKER ID. A fresh UUID per run is embedded in the result markers; a
//    case that prints its own run's marker (read from runner.mjs) leaves
//    that id in stderr. Ids other than the corpus's fixed forged id become
//    `<RUN_ID>`.
// 3. RUNNER FRAMES. runner.mjs is each implementation's own generated
//    code, so the function name and line:column of a stack frame inside it
//    differ (`at __emit (<RUN_DIR>/runner.mjs:14:43)` in the seed). Every
//    frame line that points into runner.mjs becomes `at <runner.mjs>` (same
//    indentation), and consecutive such lines collapse into one, so a
//    runner that reaches the same point through a different number of its
//    own calls compares equal. Frames in user.mjs are compared exactly.
// 4. INTERNAL FRAMES. Frames inside the runtime (`node:internal/...`) keep
//    their function and module but lose line:column, which only depend on
//    the runtime build. (The seed and scriptcage run the same Bun, so under
//    Bun this rule changes nothing.)

const RUN_DIR = /\/(?:[^\s/'"`()<>]+\/)*(?:checkstack-script|\.?scriptcage)-[A-Za-z0-9_]{4,}/g;
const MARKER_ID = /(##__CS_SCRIPT_RESULT_)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(_(?:START|END)__##)/g;
const RUNNER_FRAME = /^(\s*)at (?:.*[ (])?(?:file:\/\/)?<RUN_DIR>\/runner\.mjs(?::\d+(?::\d+)?)?\)?\s*$/;
const INTERNAL_POS = /(\(?node:internal\/[^\s:)]+):\d+:\d+/g;

function normaliseText(text, fixedIds = []) {
  if (typeof text !== 'string') return text;
  let s = text.replace(RUN_DIR, '<RUN_DIR>');
  s = s.replace(MARKER_ID, (m, a, id, b) => (fixedIds.includes(id) ? m : `${a}<RUN_ID>${b}`));
  const out = [];
  for (const line of s.split('\n')) {
    const m = RUNNER_FRAME.exec(line);
    if (m) {
      const collapsed = `${m[1]}at <runner.mjs>`;
      if (out.length > 0 && out[out.length - 1] === collapsed) continue;
      out.push(collapsed);
    } else {
      out.push(line.replace(INTERNAL_POS, '$1'));
    }
  }
  return out.join('\n');
}

/** The first line(s) of a stack: everything before the first frame. */
function stackHeader(stack) {
  if (typeof stack !== 'string') return stack;
  const i = stack.search(/\n\s+at /);
  return i === -1 ? stack : stack.slice(0, i);
}

const TEXT_FIELDS = ['stdout', 'stderr', 'error', 'stack'];

/** Normalises the text fields of an outcome record (helpers/outcome.js). */
function normaliseOutcome(rec, fixedIds = []) {
  const copy = JSON.parse(JSON.stringify(rec));
  if (copy.kind === 'resolved') {
    for (const k of TEXT_FIELDS) {
      const v = copy.values[k];
      if (v && 'value' in v) v.value = normaliseText(v.value, fixedIds);
    }
  } else if (copy.kind === 'rejected') {
    copy.message = normaliseText(copy.message, fixedIds);
  }
  return copy;
}

module.exports = { normaliseText, normaliseOutcome, stackHeader };
