//! scriptcage: the Node-API surface. Everything here only converts between
//! JavaScript values and the Rust types of the modules behind it.

#![deny(clippy::all)]

use napi_derive::napi;

pub mod env;
pub mod error;
pub mod esm;
pub mod process;
pub mod runtime;
pub mod sandbox;
pub mod shell;
pub mod staging;
pub mod text;

use napi::bindgen_prelude::{PromiseRaw, Utf16String};
use napi::Env;

/// Pairs from a flat `[key, value, key, value, …]` list (keeps the caller's
/// order, which a JavaScript object's iteration defines).
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// `runEsmScript` options after the JavaScript layer's conversions.
#[napi(object)]
pub struct EsmRunInput {
    pub script: String,
    /// `JSON.stringify(context)`; absent for `undefined`.
    pub context_json: Option<String>,
    pub timeout_ms: f64,
    pub helper_module_name: Option<String>,
    pub helper_function_name: Option<String>,
    pub resolution_root: Option<String>,
    /// Injected environment, flattened `[k, v, …]`.
    pub env: Vec<String>,
    /// Host values of the curated variables, flattened.
    pub host_env: Vec<String>,
    pub is_bun: bool,
    /// Id under which `cancelRun` can abort this run.
    pub run_id: Option<u32>,
    /// `"js"`, `"ts"` or `"auto"`; absent means `"auto"`.
    pub language: Option<String>,
}

/// What the JavaScript layer turns into an `EsmScriptRunResult`.
#[napi(object)]
pub struct EsmRunOutput {
    pub stdout: String,
    pub stderr: String,
    pub payload_json: Option<String>,
    pub timed_out: bool,
    pub output_truncated: bool,
    pub error: Option<String>,
    /// Replaces a reported error that a resource limit caused.
    pub limit_error: Option<String>,
    pub sandbox_json: String,
    pub usage: RunUsage,
}

/// What a whole run consumed (`usage` of a result).
#[napi(object)]
pub struct RunUsage {
    pub wall_ms: f64,
    pub cpu_ms: f64,
    pub peak_memory_bytes: f64,
    pub processes: u32,
}

impl From<process::usage::Usage> for RunUsage {
    fn from(u: process::usage::Usage) -> Self {
        RunUsage {
            wall_ms: u.wall_ms,
            cpu_ms: u.cpu_ms,
            peak_memory_bytes: u.peak_memory_bytes as f64,
            processes: u.processes.min(u32::MAX as u64) as u32,
        }
    }
}

/// Starts an ESM run; cancellation is registered before this returns, so
/// a `cancelRun` right after cannot be lost.
#[napi(js_name = "runEsmNative")]
pub fn run_esm_native(env: &Env, input: EsmRunInput) -> napi::Result<PromiseRaw<'_, EsmRunOutput>> {
    let registration = input.run_id.map(process::cancel::register);
    let req = esm::run::EsmRequest {
        script: input.script,
        context_json: input.context_json,
        timeout_ms: input.timeout_ms,
        helper_module_name: input.helper_module_name,
        helper_function_name: input.helper_function_name,
        resolution_root: input.resolution_root,
        env: pairs(input.env),
        host_env: pairs(input.host_env),
        is_bun: input.is_bun,
        language: input.language,
    };
    env.spawn_future(async move {
        let cancel = registration.as_ref().map(|r| r.cancel.clone());
        let reply = esm::run::run_esm(req, cancel).await?;
        drop(registration);
        Ok(EsmRunOutput {
            stdout: reply.stdout,
            stderr: reply.stderr,
            payload_json: reply.payload_json,
            timed_out: reply.timed_out,
            output_truncated: reply.output_truncated,
            error: reply.error,
            limit_error: reply.limit_error,
            sandbox_json: reply.sandbox_json,
            usage: reply.usage.into(),
        })
    })
}

/// `runShellScript` options after the JavaScript layer's conversions.
#[napi(object)]
pub struct ShellRunInput {
    pub script: String,
    pub timeout_ms: f64,
    pub cwd: Option<String>,
    /// Injected environment, flattened `[k, v, …]`.
    pub env: Vec<String>,
    /// Host values of the curated variables, flattened.
    pub host_env: Vec<String>,
    /// Id under which `cancelRun` can abort this run.
    pub run_id: Option<u32>,
}

/// What the JavaScript layer turns into a `ShellScriptRunResult`.
#[napi(object)]
pub struct ShellRunOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub output_truncated: bool,
    pub sandbox_json: String,
    pub usage: RunUsage,
}

/// Starts a shell run (see [`run_esm_native`] for cancellation).
#[napi(js_name = "runShellNative")]
pub fn run_shell_native(
    env: &Env,
    input: ShellRunInput,
) -> napi::Result<PromiseRaw<'_, ShellRunOutput>> {
    let registration = input.run_id.map(process::cancel::register);
    let req = shell::ShellRequest {
        script: input.script,
        timeout_ms: input.timeout_ms,
        cwd: input.cwd,
        env: pairs(input.env),
        host_env: pairs(input.host_env),
    };
    env.spawn_future(async move {
        let cancel = registration.as_ref().map(|r| r.cancel.clone());
        let r = shell::run_shell(req, cancel).await?;
        drop(registration);
        Ok(ShellRunOutput {
            exit_code: r.exit_code,
            stdout: r.stdout,
            stderr: r.stderr,
            timed_out: r.timed_out,
            output_truncated: r.output_truncated,
            sandbox_json: r.sandbox_json,
            usage: r.usage.into(),
        })
    })
}

/// Aborts the run registered under `runId` (no-op once it has finished).
#[napi(js_name = "cancelRun")]
pub fn cancel_run(run_id: u32) {
    process::cancel::fire(run_id);
}

/// The host variables a script process may inherit.
#[napi(js_name = "safeHostEnvKeys")]
pub fn safe_host_env_keys() -> Vec<String> {
    env::SAFE_HOST_KEYS.iter().map(|s| s.to_string()).collect()
}

/// `configureSandbox(input)`: merges JSON `input` over the global policy and
/// returns the resolved policy as JSON.
#[napi(js_name = "configureSandboxNative")]
pub fn configure_sandbox(input_json: String) -> napi::Result<String> {
    let input: serde_json::Value = serde_json::from_str(&input_json)
        .map_err(|e| napi::Error::new(napi::Status::InvalidArg, format!("policy: {e}")))?;
    let mut guard = sandbox::global().write().unwrap_or_else(|e| e.into_inner());
    let next = guard.merged(&input)?;
    *guard = next;
    let json = guard.to_json().to_string();
    drop(guard);
    // Pooled processes were prepared under the old policy.
    pool::retire_policy_other_than(&json);
    Ok(json)
}

/// `configureRunner({ warmProcesses })`: sets the warm pool's size per key
/// (0 disables it) and returns it.
#[napi(js_name = "configureRunnerNative")]
pub fn configure_runner(warm_processes: f64) -> napi::Result<u32> {
    let n = warm_processes;
    if !(n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= pool::MAX_SIZE as f64) {
        return Err(error::Error::invalid(
            "warmProcesses",
            format!("must be an integer from 0 to {}", pool::MAX_SIZE),
        )
        .into());
    }
    pool::set_size(n as usize);
    Ok(n as u32)
}

/// `closeRunner()`: kills every idle pooled process; returns how many.
#[napi(js_name = "closeRunnerNative")]
pub fn close_runner() -> u32 {
    pool::close() as u32
}

/// Pool state for tests and diagnostics.
#[napi(object)]
pub struct RunnerStats {
    pub warm_processes: u32,
    pub idle: u32,
    pub idle_pids: Vec<i32>,
    /// Idle processes allowed above `warmProcesses` by recent demand.
    pub burst: u32,
    /// Staging directories of this host that exist now (runs in flight and
    /// idle pooled processes).
    pub staging_dirs: u32,
}

/// `runnerStats()`.
#[napi(js_name = "runnerStatsNative")]
pub fn runner_stats() -> RunnerStats {
    RunnerStats {
        warm_processes: pool::size() as u32,
        idle: pool::idle_count() as u32,
        idle_pids: pool::idle_pids(),
        burst: pool::burst() as u32,
        staging_dirs: staging::live_count() as u32,
    }
}

/// The host is going away (`exit`, a fatal signal or exception): kills the
/// idle pooled processes and removes every staging directory of this host,
/// in flight or not. Returns how many directories were removed.
#[napi(js_name = "hostExitCleanupNative")]
pub fn host_exit_cleanup() -> u32 {
    pool::close();
    staging::remove_all() as u32
}

/// `getSandboxPolicy()` as JSON.
#[napi(js_name = "getSandboxPolicyNative")]
pub fn get_sandbox_policy() -> String {
    sandbox::current().to_json().to_string()
}

/// `sandboxCapabilities()` as JSON.
#[napi(js_name = "sandboxCapabilitiesNative")]
pub fn sandbox_capabilities() -> String {
    sandbox::caps::capabilities().to_json().to_string()
}

/// `normaliseUserScript(userScript)`. Strings cross as UTF-16 so that lone
/// surrogates survive, as they do in the original.
#[napi(js_name = "normaliseUserScript")]
pub fn normalise_user_script(user_script: Utf16String) -> Utf16String {
    let src = text::js_string::from_utf16(&user_script);
    Utf16String::from(text::js_string::to_utf16(
        &esm::normalise::normalise_user_script(&src),
    ))
}

/// `rewriteHelperImports({ userScript, helperModuleName, helperUrl })`,
/// with the fields passed positionally by the JavaScript layer.
#[napi(js_name = "rewriteHelperImportsNative")]
pub fn rewrite_helper_imports(
    user_script: Utf16String,
    helper_module_name: Utf16String,
    helper_url: Utf16String,
) -> Utf16String {
    use text::js_string::{from_utf16, to_utf16};
    let out = esm::helpers::rewrite_helper_imports(
        &from_utf16(&user_script),
        &from_utf16(&helper_module_name),
        &from_utf16(&helper_url),
    );
    Utf16String::from(to_utf16(&out))
}

/// The module source a run would stage for `script` under `language`
/// (normalised, type-stripped as the language says), or the error the run
/// would report. Used by the benchmark and the tests.
#[napi(js_name = "prepareModuleSourceNative")]
pub fn prepare_module_source(script: String, language: Option<String>) -> napi::Result<String> {
    let language = esm::typescript::Language::from_option(language.as_deref())?;
    esm::typescript::prepare_module_source_guarded(&script, language)
        .map_err(|m| napi::Error::new(napi::Status::GenericFailure, m))
}

/// True when `name` is usable as the helper function's name.
#[napi(js_name = "isValidHelperName")]
pub fn is_valid_helper_name(name: String) -> bool {
    esm::helpers::is_valid_identifier(&name)
}

// --- correlation ids ---

pub mod correlation;

/// Parses the `version` option of `correlationId`.
fn correlation_version(version: u32) -> napi::Result<correlation::Version> {
    correlation::Version::from_number(version).ok_or_else(|| {
        napi::Error::new(
            napi::Status::InvalidArg,
            format!("version must be 4 or 7, got {version}"),
        )
    })
}

/// Length of one minted correlation id (a canonical UUID), in bytes.
#[napi(js_name = "CORRELATION_ID_LENGTH")]
pub const CORRELATION_ID_LENGTH: u32 = correlation::ID_LEN as u32;

/// Mints up to `count` correlation ids of UUID `version` (4 or 7) into
/// `target`, 36 bytes each, back to back, and returns how many it wrote (no
/// more than fit). One call serves many ids: the JavaScript layer hands them
/// out one by one.
#[napi(js_name = "fillCorrelationIds")]
pub fn fill_correlation_ids(
    version: u32,
    mut target: napi::bindgen_prelude::BufferSlice,
    count: u32,
) -> napi::Result<u32> {
    let version = correlation_version(version)?;
    Ok(correlation::mint_into(version, &mut target, count as usize) as u32)
}

/// The regular-expression source (no flags) matching exactly the incoming ids
/// `correlationId` keeps: with `validate` the strict character and length
/// rule, without it any non-empty string.
#[napi(js_name = "correlationIdPattern")]
pub fn correlation_id_pattern(validate: bool) -> String {
    correlation::acceptance_pattern(validate)
}

/// True when `id` is an acceptable incoming correlation id (the strict rule).
/// The JavaScript layer decides with the compiled pattern instead; this is the
/// reference the tests and the benchmark compare it with.
#[napi(js_name = "isAcceptableCorrelationId")]
pub fn is_acceptable_correlation_id(id: String) -> bool {
    correlation::is_acceptable(&id)
}
pub mod pool;
