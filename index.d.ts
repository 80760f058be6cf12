// Type definitions for scriptcage.

/** A sandbox layer named in reports. */
export type SandboxLayer = 'resources' | 'filesystem' | 'network' | 'privilege';

/** A fully resolved sandbox policy (shape compatible with upstream's). */
export interface SandboxPolicy {
  enabled: boolean;
  onUnavailable: 'degrade' | 'fail';
  resources: {
    cpuSeconds?: number;
    memoryBytes?: number;
    maxOpenFiles?: number;
    maxProcesses?: number;
    maxOutputBytes?: number;
    maxFileSizeBytes?: number;
  };
  filesystem: { mode: 'off' | 'scratch-only' | 'scratch-plus-ro' };
  network: {
    mode: 'unrestricted' | 'deny' | 'allowlist';
    /** `host`, `*.suffix`, an IPv4/IPv6 address or CIDR, each optionally with `:port` (`[v6]:port`). */
    allow: string[];
    /** Block link-local/metadata, the host's loopback, unspecified, multicast and broadcast addresses (default true). */
    denyLinkLocalAndMetadata: boolean;
    /** Also block RFC 1918 and 100.64.0.0/10 (default false). */
    denyPrivate: boolean;
  };
  privilege: { mode: 'inherit' | 'drop-to-uid'; uid?: number; gid?: number };
}

/** A partial policy merged over the current one; `profile` first resets to a named profile. */
export interface SandboxPolicyInput {
  profile?: 'off' | 'standard' | 'strict';
  enabled?: boolean;
  onUnavailable?: 'degrade' | 'fail';
  resources?: Partial<{ [K in keyof SandboxPolicy['resources']]: number | null }>;
  filesystem?: Partial<SandboxPolicy['filesystem']>;
  network?: Partial<SandboxPolicy['network']>;
  privilege?: Partial<{ mode: 'inherit' | 'drop-to-uid'; uid: number | null; gid: number | null }>;
}

/** What held for one run. */
export interface EffectiveSandbox {
  requested: SandboxPolicy;
  enforced: { resources: boolean; filesystem: boolean; network: boolean; privilege: boolean };
  downgrades: { layer: SandboxLayer; reason: string }[];
  notes: { layer: SandboxLayer | 'environment'; note: string }[];
  platform: string;
  /** The run's connections, when they went through the network broker (at most 64; `dropped` counts the rest). */
  network?: SandboxNetworkLog;
}

/** One connection attempt of a brokered run. */
export interface SandboxConnection {
  /** `address:port` that was connected (or refused), e.g. `203.0.113.10:80`, `[2001:db8::1]:443`. */
  destination: string;
  /** A host name the run's DNS stub answered with that address. */
  name?: string;
  verdict: 'allowed' | 'refused';
  /** Why it was refused. */
  reason?: string;
}

/** The connection log of one brokered run. */
export interface SandboxNetworkLog {
  connections: SandboxConnection[];
  /** Connections not listed (beyond the bound). */
  dropped: number;
}

/** What this host can enforce (probed once per process). */
export interface SandboxCapabilities {
  platform: string;
  isRoot: boolean;
  userNamespaces: boolean;
  userNamespacesReason: string | null;
  landlockAbi: number;
  seccomp: boolean;
  cgroupV2: boolean;
  /**
   * How `memoryBytes`, `cpuSeconds` and `maxProcesses` hold for a whole run
   * here: `"cgroup-v1"` (a cgroup per run, under the host's own) or
   * `"sampling"` (the run's processes and tmpfs are sampled, per-process
   * rlimits as the backstop; `runLimitsReason` says why no cgroup).
   */
  runLimits: "cgroup-v1" | "sampling";
  runLimitsReason: string | null;
  simulated: boolean;
  /** The network broker (seccomp user notification) can enforce network rules here. */
  networkBroker: boolean;
  /** Why not, when it cannot (rules are then narrowed to `deny`, reported as a downgrade). */
  networkBrokerReason: string | null;
}

/** What a whole run consumed: every process it started, measured by its cgroup or by sampling. */
export interface RunUsage {
  /** From the start (pooled: from the job's hand-over) to the end. */
  wallMs: number;
  /** CPU time of every process of the run. */
  cpuMs: number;
  /** The most memory the run held at once, its tmpfs contents included. */
  peakMemoryBytes: number;
  /** The most processes the run had at once (sampled; at least 1). Zero when nothing ran. */
  processes: number;
}

export interface EsmScriptRunResult {
  /** The value of the default export (awaited and called with the context when a function). */
  result?: unknown;
  /** Why the run failed: the thrown message, the cleaned stderr, or a limit. */
  error?: string;
  /** Stack of the thrown value, when it had one. */
  stack?: string;
  /** The script's stdout, trimmed. */
  stdout: string;
  /** The script's stderr without the result report, trimmed. */
  stderr: string;
  /** True when the timeout ended the run. */
  timedOut: boolean;
  /** True when stdout + stderr reached the output budget and the run was stopped. */
  outputTruncated?: boolean;
  /** What the sandbox enforced for this run. */
  sandbox?: EffectiveSandbox;
  /** What the run consumed (all zero when nothing ran: a refusal, a script that is not a module). */
  usage: RunUsage;
}

export interface EsmScriptRunOptions {
  /** Module source (with import/export) or a legacy body that may `return`. */
  script: string;
  /** Exposed as `globalThis.context`, through JSON.stringify. */
  context: unknown;
  /** Wall-clock limit in milliseconds (positive, finite). */
  timeoutMs: number;
  /** Virtual module name redirected to a generated identity helper. */
  helperModuleName?: string;
  /** Name of that helper (a JavaScript identifier), also installed as a global. */
  helperFunctionName?: string;
  /** Directory whose node_modules the script may import from. */
  resolutionRoot?: string;
  /** Variables injected into the script's environment. */
  env?: Record<string, string>;
  /** Aborts the run: it ends like a timeout with `error: "Script execution aborted"`. */
  signal?: AbortSignal;
  /**
   * How to read `script` (default `"auto"`): `"js"` runs it as it is,
   * `"ts"` erases TypeScript type syntax first (lines and columns are kept,
   * so stack frames point into the TypeScript source), `"auto"` runs it as
   * JavaScript when it parses as JavaScript and strips it otherwise.
   * Constructs that need code generation (enums, namespaces with values,
   * parameter properties, `import x = require()`) are reported as the
   * run's `error`, with their line and column.
   */
  language?: EsmScriptLanguage;
}

/** The `language` option of an ESM run. */
export type EsmScriptLanguage = "js" | "ts" | "auto";

export interface EsmScriptRunner {
  run(options: EsmScriptRunOptions): Promise<EsmScriptRunResult>;
}

export interface ShellScriptRunResult {
  /** Exit status; 128 + signal when signalled; -1 when stopped or refused. */
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  outputTruncated?: boolean;
  sandbox?: EffectiveSandbox;
  /** What the run consumed (all zero when nothing ran). */
  usage: RunUsage;
}

export interface ShellScriptRunOptions {
  /** Run as `sh -c <script>`. */
  script: string;
  timeoutMs: number;
  /** Working directory; a removed-afterwards scratch directory when absent. */
  cwd?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ShellScriptRunner {
  run(options: ShellScriptRunOptions): Promise<ShellScriptRunResult>;
}

export declare function runEsmScript(options: EsmScriptRunOptions): Promise<EsmScriptRunResult>;
export declare const defaultEsmScriptRunner: EsmScriptRunner;
export declare function normaliseUserScript(userScript: string): string;
export declare function rewriteHelperImports(args: {
  userScript: string;
  helperModuleName: string;
  helperUrl: string;
}): string;

export declare function runShellScript(options: ShellScriptRunOptions): Promise<ShellScriptRunResult>;
export declare const defaultShellScriptRunner: ShellScriptRunner;

export declare function configureSandbox(policy: SandboxPolicyInput): SandboxPolicy;
export declare function getSandboxPolicy(): SandboxPolicy;
export declare function sandboxCapabilities(): SandboxCapabilities;

/** The header that carries the correlation id: `"x-correlation-id"`. */
export declare const CORRELATION_ID_HEADER: 'x-correlation-id';
export interface CorrelationIdOptions {
  /** Keep only ids of 1–255 characters from `[A-Za-z0-9._~:=+/-]` (default true). */
  validate?: boolean;
  /** UUID version minted when the incoming id is not kept (default 4). */
  version?: 4 | 7;
}
/** The incoming id when acceptable, else a new lower-case UUID. */
export declare function correlationId(incoming?: string | null, options?: CorrelationIdOptions): string;

/** Warm pool settings. */
export interface RunnerOptions {
  /** Pre-started processes kept per (runtime, policy, environment, resolution root); 0 disables the pool. */
  warmProcesses?: number;
}
/** Configures the warm pool; returns the resolved settings. */
export declare function configureRunner(options: RunnerOptions): Required<RunnerOptions>;
/** Kills every idle pooled process; the pool warms up again lazily on the next run. */
export declare function closeRunner(): Promise<void>;
/** Pool state, for diagnostics and tests. */
/**
 * Pool state, for diagnostics. `burst` is how many idle processes recent
 * demand allows above `warmProcesses` (runs that found the pool empty raise
 * it, up to twice the cores; each quiet 10 s lowers it by one).
 */
export declare function runnerStats(): { warmProcesses: number; idle: number; idlePids: number[]; burst: number; /** Staging directories of this host that exist now. */ stagingDirs: number };
