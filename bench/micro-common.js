'use strict';

// Shared by the micro-benchmarks run as subprocesses (correlation.js,
// typescript.js): their command line and the median.

/** Parses `--quick`, `--rounds N`, `--ms N` into { rounds, ms }. */
function parseMicroArgs(argv) {
  const options = { rounds: 9, ms: 150 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') {
      options.rounds = 5;
      options.ms = 80;
    } else if (arg === '--rounds' || arg === '--ms') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value <= 0) throw new Error(`${arg} needs a positive integer`);
      options[arg.slice(2)] = value;
    } else {
      throw new Error(`unknown argument: ${arg}`);
    }
  }
  return options;
}

/** The median of a list of numbers. */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

module.exports = { parseMicroArgs, median };
