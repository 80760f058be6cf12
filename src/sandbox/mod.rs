//! The OS sandbox: policy, host capabilities, per-run plan and report.

pub mod caps;
pub mod cgroup;
pub mod limits;
pub mod net;
pub mod plan;
pub mod policy;
pub mod seccomp;

use std::sync::{OnceLock, RwLock};

use policy::Policy;

/// The process-wide policy, initialised from `SCRIPTCAGE_SANDBOX` (a
/// profile name; default `standard`).
pub fn global() -> &'static RwLock<Policy> {
    static P: OnceLock<RwLock<Policy>> = OnceLock::new();
    P.get_or_init(|| {
        let name = std::env::var("SCRIPTCAGE_SANDBOX").unwrap_or_default();
        let p = policy::profile(name.trim())
            .unwrap_or_else(|| policy::profile("standard").expect("built-in"));
        RwLock::new(p)
    })
}

/// A snapshot of the current policy.
pub fn current() -> Policy {
    global().read().unwrap_or_else(|e| e.into_inner()).clone()
}
