//! Choosing how a run's whole-run limits are held: its own cgroups where the
//! host can make them, else the sampling supervisor, and saying which in
//! the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::cgroup::{self, Budget};
use super::plan::Report;
use super::policy::Policy;
use crate::process::usage::{Meter, Watch, SAMPLE_INTERVAL};

/// The mechanism this host offers for whole-run limits, for
/// `sandboxCapabilities()`: (`"cgroup-v1"` | `"sampling"`, why not a cgroup).
pub fn mechanism() -> (&'static str, Option<&'static str>) {
    match cgroup::host() {
        Ok(_) => ("cgroup-v1", None),
        Err(why) => ("sampling", Some(why)),
    }
}

/// The watch of one run under `policy`, with the report's note on the
/// mechanism. `tmpfs`: the run's private tmpfs mount points (inside its
/// root), counted as memory by the sampling supervisor.
pub fn watch(policy: &Policy, report: &mut Report, tmpfs: Vec<PathBuf>) -> Watch {
    if !policy.enabled {
        return Watch {
            meter: Meter::Sampling { tmpfs: Vec::new() },
            cpu_limit: None,
            memory_limit: None,
        };
    }
    let r = &policy.resources;
    let budget = Budget {
        memory_bytes: r.memory_bytes,
        max_processes: r.max_processes,
    };
    let limited = r.memory_bytes.is_some() || r.cpu_seconds.is_some() || r.max_processes.is_some();
    let made = cgroup::host().map_err(str::to_owned).and_then(|h| {
        h.create(&budget)
            .map_err(|e| format!("creating the run's cgroup failed: {e}"))
    });
    let meter = match made {
        Ok(cg) => {
            if limited {
                report.notes.push((
                    "resources",
                    "memoryBytes, cpuSeconds and maxProcesses hold for the whole run (every process and its tmpfs contents): a cgroup v1 per run (memory, cpuacct, pids)".into(),
                ));
            }
            Meter::Cgroup(Arc::new(cg))
        }
        Err(why) => {
            if limited {
                report.notes.push((
                    "resources",
                    format!(
                        "memoryBytes and cpuSeconds hold for the whole run by sampling its processes and tmpfs every {} ms, with per-process rlimits as the backstop between samples (no run cgroup: {why})",
                        SAMPLE_INTERVAL.as_millis()
                    ),
                ));
            }
            Meter::Sampling { tmpfs }
        }
    };
    Watch {
        meter,
        cpu_limit: r.cpu_seconds.map(Duration::from_secs),
        memory_limit: r.memory_bytes,
    }
}
