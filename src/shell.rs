//! The shell runner: `sh -c <script>` with the same environment rules,
//! output budget, timeout, tree kill and sandbox as the ESM runner.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Error;
use crate::esm::run::{limit_error, validate_timeout};
use crate::process::spawn::Stage;
use crate::process::{self, cancel::Cancel, Ending, Launch, Limits};
use crate::sandbox::{self, caps, plan, policy::FsMode};
use crate::text::{decode_output, js_trim};

/// The shell used for every script.
pub const SHELL: &str = "/bin/sh";

/// A shell run request.
#[derive(Debug, Clone, Default)]
pub struct ShellRequest {
    /// Passed to `sh -c`.
    pub script: String,
    /// Timeout in milliseconds.
    pub timeout_ms: f64,
    /// Working directory; a per-run scratch directory when absent.
    pub cwd: Option<String>,
    /// Per-run environment injection.
    pub env: Vec<(String, String)>,
    /// The host's values of the curated variables.
    pub host_env: Vec<(String, String)>,
}

/// A shell run's result.
#[derive(Debug, Clone, Default)]
pub struct ShellReply {
    /// Exit status, 128 + signal for a signalled shell, -1 when the run was
    /// stopped (timeout, abort, output limit) or refused.
    pub exit_code: i32,
    /// Trimmed stdout.
    pub stdout: String,
    /// Trimmed stderr (or the reason the run was stopped or refused).
    pub stderr: String,
    /// The timeout fired.
    pub timed_out: bool,
    /// Output reached the budget.
    pub output_truncated: bool,
    /// `EffectiveSandbox` as JSON.
    pub sandbox_json: String,
    /// What the run consumed (zero when nothing ran).
    pub usage: process::usage::Usage,
}

/// Runs one shell request.
pub async fn run_shell(
    req: ShellRequest,
    cancel: Option<Arc<Cancel>>,
) -> Result<ShellReply, Error> {
    let timeout = validate_timeout(req.timeout_ms, "timeoutMs")?;
    if req.script.contains('\0') {
        return Err(Error::invalid("script", "cannot contain NUL characters"));
    }
    for (k, v) in &req.env {
        crate::env::validate_entry(k, v)?;
    }
    let cwd = match &req.cwd {
        Some(c) => {
            let p = std::fs::canonicalize(c).map_err(|e| {
                Error::invalid("cwd", format!("{c:?} is not an accessible directory: {e}"))
            })?;
            if !p.is_dir() {
                return Err(Error::invalid("cwd", format!("{c:?} is not a directory")));
            }
            Some(p)
        }
        None => None,
    };
    let policy = sandbox::current();
    let caps = caps::capabilities();
    let (env, dropped) = crate::env::build(&req.host_env, &req.env);
    let notes = dropped.iter().map(|k| {
        (
            "environment",
            format!("{k} was dropped from env: it may not be injected"),
        )
    });
    let max_output = policy
        .resources
        .max_output_bytes
        .unwrap_or(sandbox::policy::DEFAULT_MAX_OUTPUT) as usize;
    let exe = PathBuf::from(SHELL);

    let dry = plan::plan(
        &policy,
        caps,
        &plan::RunPaths {
            exe: exe.clone(),
            ..Default::default()
        },
        Some(std::path::Path::new("/")),
    );
    if let Some(reason) = dry.report.refusal(&policy) {
        let mut report = dry.report;
        report.notes.extend(notes);
        return Ok(ShellReply {
            exit_code: -1,
            stderr: reason,
            sandbox_json: report.to_json(&policy, &caps.platform).to_string(),
            ..Default::default()
        });
    }

    if cancel.as_ref().is_some_and(|c| c.is_fired()) {
        let mut report = dry.report;
        report.notes.extend(notes);
        return Ok(ShellReply {
            exit_code: -1,
            stderr: "Script execution aborted".into(),
            sandbox_json: report.to_json(&policy, &caps.platform).to_string(),
            ..Default::default()
        });
    }

    let tmp_parent = crate::env::temp_dir(&req.host_env);
    let dir = crate::staging::create(&tmp_parent, "scriptcage-sh-")?;
    let base = std::fs::canonicalize(dir.path())?;
    let sandboxed_fs = policy.enabled && caps.user_namespaces && policy.filesystem != FsMode::Off;
    if sandboxed_fs && cwd.as_deref() == Some(std::path::Path::new("/")) {
        return Err(Error::invalid(
            "cwd",
            "\"/\" cannot be the working directory of a run with a sandboxed filesystem: the host's root directory is never bound into the sandbox (use a directory below it, or leave cwd out for a private scratch directory)",
        ));
    }
    let root_dir = base.join("root");
    let work_dir = base.join("work");
    std::fs::create_dir(&work_dir)?;
    if sandboxed_fs {
        std::fs::create_dir(&root_dir)?;
    }
    let paths = plan::RunPaths {
        staged: None,
        scratch: if cwd.is_none() {
            Some(work_dir.clone())
        } else {
            None
        },
        bind_rw: cwd.clone(),
        node_modules: None,
        exe: exe.clone(),
        data_headroom: 0,
    };
    let mut p = plan::plan(
        &policy,
        caps,
        &paths,
        sandboxed_fs.then_some(root_dir.as_path()),
    );
    let mut tmpfs = Vec::new();
    if sandboxed_fs {
        tmpfs.push(std::path::PathBuf::from("/tmp"));
        if cwd.is_none() {
            tmpfs.push(work_dir.clone());
        }
    }
    let watch = crate::sandbox::limits::watch(&policy, &mut p.report, tmpfs);
    p.report.notes.extend(notes);
    if let Some((uid, gid)) = p.chown_to {
        std::os::unix::fs::chown(&work_dir, Some(uid), Some(gid))?;
        std::os::unix::fs::chown(&base, Some(uid), Some(gid))?;
    }
    let sandbox_json = p.report.to_json(&policy, &caps.platform).to_string();
    // The uid the script runs as, for the message when it cannot enter cwd.
    // SAFETY: geteuid has no preconditions.
    let run_uid = p
        .isolation
        .ids
        .map(|(u, _)| u)
        .unwrap_or_else(|| unsafe { libc::geteuid() });
    let caller_cwd = cwd.clone();
    let run_cwd = p.cwd.clone().or(cwd).unwrap_or(work_dir);
    let args = [
        std::ffi::OsStr::new("-c"),
        std::ffi::OsStr::new(&req.script),
    ];
    let launch = Launch::new(&exe, &args, &env, Some(&run_cwd), p.isolation)?;
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
    drop(dir);
    let outcome = match (outcome, caller_cwd) {
        (Err(Error::Start { stage, errno }), Some(c)) if stage == Stage::Chdir as u32 => {
            return Err(Error::invalid(
                "cwd",
                format!(
                    "{c:?} cannot be entered by the script's uid {run_uid}: {} (the directory must grant that uid search permission; leave cwd out for a private scratch directory)",
                    std::io::Error::from_raw_os_error(errno)
                ),
            ))
        }
        (o, _) => o?,
    };

    let mut reply = ShellReply {
        exit_code: -1,
        sandbox_json: crate::sandbox::net::broker::with_summary(
            sandbox_json,
            outcome.network.as_ref(),
        ),
        usage: outcome.usage,
        ..Default::default()
    };
    match outcome.ending {
        Ending::Limit(hit) => {
            // As the kernel's own kill at a limit would show it.
            reply.exit_code = 128 + libc::SIGKILL;
            reply.stdout = js_trim(&decode_output(&outcome.stdout)).to_owned();
            let err = js_trim(&decode_output(&outcome.stderr)).to_owned();
            let note = crate::esm::run::whole_run_limit_error(&policy, hit);
            reply.stderr = if err.is_empty() {
                note
            } else {
                format!("{err}\n{note}")
            };
        }
        Ending::TimedOut => {
            reply.timed_out = true;
            reply.stderr = "Script execution timed out".into();
        }
        Ending::Aborted => reply.stderr = "Script execution aborted".into(),
        Ending::OutputLimit => {
            reply.output_truncated = true;
            reply.stdout = js_trim(&decode_output(&outcome.stdout)).to_owned();
            let err = js_trim(&decode_output(&outcome.stderr)).to_owned();
            let note = format!(
                "Script output exceeded the limit of {max_output} bytes; the script was stopped"
            );
            reply.stderr = if err.is_empty() {
                note
            } else {
                format!("{err}\n{note}")
            };
        }
        Ending::Exited(code) => {
            reply.exit_code = code;
            reply.stdout = js_trim(&decode_output(&outcome.stdout)).to_owned();
            let err = decode_output(&outcome.stderr);
            let limit = limit_error(&policy, code, &err);
            let err = js_trim(&err).to_owned();
            reply.stderr = match limit {
                Some(l) if err.is_empty() => l,
                Some(l) => format!("{err}\n{l}"),
                None => err,
            };
        }
    }
    Ok(reply)
}
