//! One ESM run from request to reply.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::helpers::{helper_module_source, is_valid_identifier, rewrite_helper_imports};
use super::result::extract_report;
use super::runner_source::{runner_source, Markers, RunnerSpec};
use super::typescript::{prepare_module_source_guarded, Language};
use crate::error::Error;
use crate::pool;
use crate::process::{self, cancel::Cancel, Ending, Launch, Limits};
use crate::runtime::{file_url, Runtime};
use crate::sandbox::{self, caps, plan, policy::Policy};
use crate::text::{decode_output, js_trim};

/// A validated ESM run request.
#[derive(Debug, Clone, Default)]
pub struct EsmRequest {
    /// User source.
    pub script: String,
    /// `JSON.stringify(context)` from the host, `None` for `undefined`.
    pub context_json: Option<String>,
    /// Timeout in milliseconds (validated here).
    pub timeout_ms: f64,
    /// Virtual helper module name.
    pub helper_module_name: Option<String>,
    /// Helper function name.
    pub helper_function_name: Option<String>,
    /// Directory whose `node_modules` the script may import from.
    pub resolution_root: Option<String>,
    /// Per-run environment injection.
    pub env: Vec<(String, String)>,
    /// The host's values of the curated variables.
    pub host_env: Vec<(String, String)>,
    /// Host is Bun.
    pub is_bun: bool,
    /// `"js"`, `"ts"` or `"auto"` (`None`: `"auto"`), validated here.
    pub language: Option<String>,
}

/// What the JavaScript layer turns into an `EsmScriptRunResult`.
#[derive(Debug, Clone, Default)]
pub struct EsmReply {
    /// Trimmed stdout.
    pub stdout: String,
    /// stderr, cleaned of the report (raw when there was none).
    pub stderr: String,
    /// The report's JSON text, for `JSON.parse` in the host.
    pub payload_json: Option<String>,
    /// The timeout fired.
    pub timed_out: bool,
    /// Output reached the budget.
    pub output_truncated: bool,
    /// An error decided here (timeout, abort, limit, refusal).
    pub error: Option<String>,
    /// Replaces the reported error when the script's own error was caused
    /// by a resource limit (an allocation that failed under the memory
    /// limit, caught and reported by the runner).
    pub limit_error: Option<String>,
    /// `EffectiveSandbox` as JSON.
    pub sandbox_json: String,
    /// What the run consumed (zero when nothing ran).
    pub usage: process::usage::Usage,
}

/// Checks a timeout in milliseconds.
pub fn validate_timeout(ms: f64, field: &str) -> Result<Duration, Error> {
    if !ms.is_finite() || ms <= 0.0 {
        return Err(Error::invalid(
            field,
            "must be a positive finite number of milliseconds",
        ));
    }
    Ok(Duration::from_secs_f64((ms / 1000.0).min(1e9)))
}

fn env_notes(dropped: &[String]) -> Vec<(&'static str, String)> {
    dropped
        .iter()
        .map(|k| {
            (
                "environment",
                format!("{k} was dropped from env: it may not be injected"),
            )
        })
        .collect()
}

/// The effective helper pair, when both names are non-empty.
fn helper_pair(req: &EsmRequest) -> Result<Option<(&str, &str)>, Error> {
    match (
        req.helper_module_name.as_deref(),
        req.helper_function_name.as_deref(),
    ) {
        (Some(m), Some(f)) if !m.is_empty() && !f.is_empty() => {
            if !is_valid_identifier(f) {
                return Err(Error::invalid(
                    "helperFunctionName",
                    format!("{f:?} is not a valid JavaScript identifier"),
                ));
            }
            Ok(Some((m, f)))
        }
        _ => Ok(None),
    }
}

/// Describes a run that died of a resource limit, when that is what the
/// exit code and output say.
pub fn limit_error(policy: &Policy, code: i32, stderr: &str) -> Option<String> {
    if !policy.enabled {
        return None;
    }
    let r = &policy.resources;
    if let Some(cpu) = r.cpu_seconds {
        if code == 128 + libc::SIGXCPU {
            return Some(format!("Script exceeded the CPU time limit ({cpu} s)"));
        }
    }
    if let Some(mem) = r.memory_bytes {
        if code != 0 && mentions_oom(stderr) {
            return Some(format!("Script exceeded the memory limit ({mem} bytes)"));
        }
    }
    None
}

/// The error of a run ended by a whole-run limit.
pub fn whole_run_limit_error(policy: &Policy, hit: process::usage::LimitHit) -> String {
    let r = &policy.resources;
    match hit {
        process::usage::LimitHit::Memory => format!(
            "Script exceeded the memory limit ({} bytes) for the whole run: it was stopped",
            r.memory_bytes.unwrap_or(0)
        ),
        process::usage::LimitHit::Cpu => format!(
            "Script exceeded the CPU time limit ({} s) for the whole run: it was stopped",
            r.cpu_seconds.unwrap_or(0)
        ),
    }
}

/// How the runtimes say that an allocation failed (matched
/// case-insensitively): V8's fatal OOM and `Array buffer allocation failed`,
/// a C++ `std::bad_alloc` abort, JavaScriptCore's memory exhaustion crash.
const OOM_MESSAGES: &[&str] = &[
    "out of memory",
    "array buffer allocation failed",
    "allocation failed",
    "outofmemoryerror",
    "bad_alloc",
    "memoryexhaustion",
    "memory is exhausted",
];

fn mentions_oom(text: &str) -> bool {
    let lower = text.to_lowercase();
    OOM_MESSAGES.iter().any(|m| lower.contains(m))
}

/// A runtime killed by a signal without a word, under a memory limit: some
/// allocation failures end the process before it can say so.
fn silent_death(policy: &Policy, code: i32, stderr: &str) -> Option<String> {
    let mem = policy.resources.memory_bytes.filter(|_| policy.enabled)?;
    (code > 128 && js_trim(stderr).is_empty()).then(|| {
        format!(
            "Script was killed by signal {} without producing a result (it may have exceeded the memory limit of {mem} bytes)",
            code - 128
        )
    })
}

/// When the report is an error thrown by a failed allocation under the
/// memory limit, the error that names the limit.
fn reported_limit_error(policy: &Policy, payload_json: &str) -> Option<String> {
    let mem = policy.resources.memory_bytes.filter(|_| policy.enabled)?;
    if !mentions_oom(payload_json) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(payload_json).ok()?;
    let msg = v.get("error")?.as_str()?;
    (v.get("ok") == Some(&serde_json::Value::Bool(false)) && mentions_oom(msg))
        .then(|| format!("Script exceeded the memory limit ({mem} bytes): {msg}"))
}

/// Runs one ESM request.
pub async fn run_esm(req: EsmRequest, cancel: Option<Arc<Cancel>>) -> Result<EsmReply, Error> {
    let timeout = validate_timeout(req.timeout_ms, "timeoutMs")?;
    let helper = helper_pair(&req)?;
    let language = Language::from_option(req.language.as_deref())?;
    for (k, v) in &req.env {
        crate::env::validate_entry(k, v)?;
    }
    let rr = match &req.resolution_root {
        Some(r) => {
            let p = std::fs::canonicalize(r).map_err(|e| {
                Error::invalid(
                    "resolutionRoot",
                    format!("{r:?} is not an accessible directory: {e}"),
                )
            })?;
            if !p.is_dir() {
                return Err(Error::invalid(
                    "resolutionRoot",
                    format!("{r:?} is not a directory"),
                ));
            }
            Some(p)
        }
        None => None,
    };
    let policy = sandbox::current();
    let caps = caps::capabilities();
    let runtime = Runtime::host(req.is_bun).map_err(|e| Error::Spawn(e.to_string()))?;
    let (mut env, dropped) = crate::env::build(&req.host_env, &req.env);
    if let Some(extra) = runtime.extra_env() {
        env.push(extra);
    }
    let max_output = policy
        .resources
        .max_output_bytes
        .unwrap_or(sandbox::policy::DEFAULT_MAX_OUTPUT) as usize;

    // Refuse before writing or spawning anything.
    let dry = plan::plan(
        &policy,
        caps,
        &plan::RunPaths {
            exe: runtime.exe.clone(),
            data_headroom: runtime.data_headroom(),
            ..Default::default()
        },
        Some(Path::new("/")),
    );
    // A reply for a run that ends before anything is staged or spawned.
    let refusal = dry.report.refusal(&policy);
    let unrun = |error: String| {
        let mut report = dry.report;
        report.notes.extend(env_notes(&dropped));
        EsmReply {
            error: Some(error),
            sandbox_json: report.to_json(&policy, &caps.platform).to_string(),
            ..Default::default()
        }
    };
    if let Some(reason) = refusal {
        return Ok(unrun(reason));
    }
    if cancel.as_ref().is_some_and(|c| c.is_fired()) {
        return Ok(unrun("Script execution aborted".into()));
    }
    // A script that cannot become a module is reported without a run.
    let script = req.script.clone();
    let prepared =
        tokio::task::spawn_blocking(move || prepare_module_source_guarded(&script, language))
            .await
            .unwrap_or_else(|_| Err("TypeScript: type stripping failed unexpectedly".into()));
    let source = match prepared {
        Ok(source) => source,
        Err(message) => return Ok(unrun(message)),
    };

    let tmp_parent: PathBuf = rr
        .clone()
        .unwrap_or_else(|| crate::env::temp_dir(&req.host_env));
    let ctx = RunCtx {
        policy: &policy,
        markers: Markers::fresh(),
        max_output,
        dropped: &dropped,
        timeout,
    };

    // Judged on what reaches the script: dropped keys do not count.
    let injected = crate::env::build(&[], &req.env).0;
    // Refilled once this run is over (whichever path it takes): a
    // replacement booting meanwhile would compete with it for the CPU.
    let mut _refill = None;
    if pool::size() > 0 && !pool::env_needs_cold_start(&injected) {
        let key = pool::PoolKey {
            exe: runtime.exe.clone(),
            is_bun: runtime.is_bun,
            policy: policy.to_json().to_string(),
            host_env: crate::env::build(&req.host_env, &[]).0,
            parent: tmp_parent.clone(),
            resolution_root: rr.clone(),
        };
        let warm = pool::take(&key);
        _refill = Some(pool::RefillAfter::new(key, &runtime, &policy, caps));
        if let Some(warm) = warm {
            if let Some(reply) = run_warm(warm, &req, &source, helper, &ctx, cancel.clone()).await?
            {
                return Ok(reply);
            }
            // The pooled process died before it accepted the job: no user
            // code ran, so the run starts over, cold.
        }
    }

    let prefix = if rr.is_some() {
        ".scriptcage-"
    } else {
        "scriptcage-"
    };
    let dir = crate::staging::create(&tmp_parent, prefix)?;
    let base = std::fs::canonicalize(dir.path())?;
    let user_path = stage_user_files(&base, &source, helper)?;
    let runner_path = base.join("runner.mjs");
    std::fs::write(
        &runner_path,
        runner_source(&RunnerSpec {
            user_url: &file_url(&user_path),
            context_json: req.context_json.as_deref(),
            helper_function: helper.map(|(_, f)| f),
            markers: &ctx.markers,
        }),
    )?;

    let sandboxed_fs =
        policy.enabled && caps.user_namespaces && policy.filesystem != sandbox::policy::FsMode::Off;
    let root_dir = base.join("root");
    let work_dir = base.join("work");
    if sandboxed_fs {
        std::fs::create_dir(&root_dir)?;
        std::fs::create_dir(&work_dir)?;
    }
    let paths = plan::RunPaths {
        staged: Some(base.clone()),
        scratch: Some(work_dir.clone()),
        bind_rw: None,
        node_modules: rr.as_ref().map(|r| r.join("node_modules")),
        exe: runtime.exe.clone(),
        data_headroom: runtime.data_headroom(),
    };
    let mut p = plan::plan(
        &policy,
        caps,
        &paths,
        sandboxed_fs.then_some(root_dir.as_path()),
    );
    let tmpfs = if sandboxed_fs {
        vec![PathBuf::from("/tmp"), work_dir.clone()]
    } else {
        Vec::new()
    };
    let watch = sandbox::limits::watch(&policy, &mut p.report, tmpfs);
    p.report.notes.extend(env_notes(&dropped));
    if let Some((uid, gid)) = p.chown_to {
        chown_tree(&base, uid, gid)?;
    }
    let sandbox_json = p.report.to_json(&policy, &caps.platform).to_string();

    let args = runtime.module_args(&runner_path);
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut launch = Launch::new(&runtime.exe, &arg_refs, &env, p.cwd.as_deref(), p.isolation)?;
    launch.ready_pipe = true;
    let outcome = process::run_with_net(
        launch,
        Limits {
            timeout,
            max_output_bytes: max_output,
            cancel,
            watch: Some(watch),
        },
        p.net,
    )
    .await;
    // The temporary directory is removed here, whatever happened.
    drop(dir);
    Ok(reply_from(outcome?, &ctx, sandbox_json))
}

/// Per-run values shared by the cold and warm paths.
struct RunCtx<'a> {
    policy: &'a Policy,
    markers: Markers,
    max_output: usize,
    dropped: &'a [String],
    timeout: Duration,
}

/// Writes `user.mjs` (and `_helpers.mjs`) into `base`, the prepared module
/// source with its helper imports rewritten; returns the user module's path.
fn stage_user_files(
    base: &Path,
    prepared: &str,
    helper: Option<(&str, &str)>,
) -> Result<PathBuf, Error> {
    let user_path = base.join("user.mjs");
    let mut source = prepared.to_owned();
    if let Some((module, function)) = helper {
        let helper_path = base.join("_helpers.mjs");
        std::fs::write(&helper_path, helper_module_source(function))?;
        source = rewrite_helper_imports(&source, module, &file_url(&helper_path));
    }
    std::fs::write(&user_path, source)?;
    Ok(user_path)
}

/// Runs the request in a pre-started pooled process; `None` when the
/// process turned out to be dead before it accepted the job.
async fn run_warm(
    mut warm: pool::Warm,
    req: &EsmRequest,
    source: &str,
    helper: Option<(&str, &str)>,
    ctx: &RunCtx<'_>,
    cancel: Option<Arc<Cancel>>,
) -> Result<Option<EsmReply>, Error> {
    let user_path = stage_user_files(&warm.base, source, helper)?;
    if let Some((uid, gid)) = warm.chown_to {
        chown_tree(&warm.base, uid, gid)?;
    }
    let (injected, _) = crate::env::build(&[], &req.env);
    let job = super::runner_source::pool_job(
        &file_url(&user_path),
        req.context_json.as_deref(),
        helper.map(|(_, f)| f),
        &ctx.markers,
        &injected,
    );
    let mut child = warm
        .child
        .take()
        .expect("a taken pooled process has its child");
    let stdin = child
        .stdin
        .take()
        .expect("pooled processes have a stdin pipe");
    let mut ready = warm
        .ready
        .take()
        .expect("pooled processes have a readiness pipe");
    // Hand the job over and wait until the runner says it has it. A large
    // context may not fit in the pipe, so both happen together.
    let write = async move {
        use tokio::io::AsyncWriteExt;
        if let Ok(mut tx) = process::sender(stdin) {
            let _ = tx.write_all(job.as_bytes()).await;
        }
    };
    let accept = tokio::time::timeout(ctx.timeout, async {
        let ((), byte) = tokio::join!(write, pool::read_byte(&mut ready));
        byte
    });
    // A process killed just before it was taken may still accept the job:
    // its init is gone by then (without a PID namespace at once), and the
    // run starts over cold.
    let accepted = accept.await.ok().flatten() == Some(b'a');
    if !accepted || !matches!(crate::process::spawn::try_reap(&child.pidfd), Ok(None)) {
        warm.child = Some(child);
        return Ok(None); // dropping `warm` kills and reaps it
    }
    let mut report = warm.report.clone();
    report.notes.extend(env_notes(ctx.dropped));
    let sandbox_json = report
        .to_json(ctx.policy, &caps::capabilities().platform)
        .to_string();
    let limits = Limits {
        timeout: ctx.timeout,
        max_output_bytes: ctx.max_output,
        cancel,
        watch: warm.watch.take(),
    };
    let outcome = process::supervise(child, limits, Some(ready)).await;
    drop(warm);
    Ok(Some(reply_from(outcome?, ctx, sandbox_json)))
}

/// Turns a finished run into the reply.
fn reply_from(outcome: process::Outcome, ctx: &RunCtx<'_>, sandbox_json: String) -> EsmReply {
    let mut reply = EsmReply {
        sandbox_json: sandbox::net::broker::with_summary(sandbox_json, outcome.network.as_ref()),
        usage: outcome.usage,
        ..Default::default()
    };
    match outcome.ending {
        Ending::Limit(hit) => {
            reply.stdout = js_trim(&decode_output(&outcome.stdout)).to_owned();
            let stderr = decode_output(&outcome.stderr);
            reply.stderr = extract_report(&stderr, &ctx.markers).stderr;
            reply.error = Some(whole_run_limit_error(ctx.policy, hit));
        }
        Ending::TimedOut => {
            reply.timed_out = true;
            reply.error = Some("Script execution timed out".into());
        }
        Ending::Aborted => reply.error = Some("Script execution aborted".into()),
        Ending::OutputLimit => {
            reply.output_truncated = true;
            reply.stdout = js_trim(&decode_output(&outcome.stdout)).to_owned();
            reply.stderr = js_trim(&decode_output(&outcome.stderr)).to_owned();
            reply.error = Some(format!(
                "Script output exceeded the limit of {} bytes; the script was stopped",
                ctx.max_output
            ));
        }
        Ending::Exited(code) => {
            reply.stdout = js_trim(&decode_output(&outcome.stdout)).to_owned();
            let stderr = decode_output(&outcome.stderr);
            let x = extract_report(&stderr, &ctx.markers);
            match &x.payload_json {
                None => {
                    reply.error = limit_error(ctx.policy, code, &stderr)
                        .or_else(|| silent_death(ctx.policy, code, &stderr))
                }
                Some(json) => reply.limit_error = reported_limit_error(ctx.policy, json),
            }
            reply.stderr = x.stderr;
            reply.payload_json = x.payload_json;
        }
    }
    reply
}

/// Gives a staging tree to the sandbox uid, except the owner marker, which
/// stays the host's (see `crate::staging`).
pub(crate) fn chown_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == crate::staging::MARKER {
            continue;
        }
        if entry.file_type()?.is_dir() {
            chown_tree(&entry.path(), uid, gid)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}
