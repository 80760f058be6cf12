//! What this host can enforce, probed once per process, in-process.

use std::sync::OnceLock;

use serde_json::{json, Value};

/// The probe's findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `linux`, or the OS name elsewhere.
    pub platform: String,
    /// The host process runs as uid 0.
    pub is_root: bool,
    /// A child in new user, PID, mount and network namespaces could be
    /// created.
    pub user_namespaces: bool,
    /// Why not, when it could not.
    pub user_namespaces_reason: Option<String>,
    /// Landlock ABI version, 0 when unavailable.
    pub landlock_abi: i32,
    /// seccomp filters can be installed.
    pub seccomp: bool,
    /// A delegated, writable cgroup v2 hierarchy is present.
    pub cgroup_v2: bool,
    /// The probe was overridden for testing (`SCRIPTCAGE_FORCE_NO_NAMESPACES`).
    pub simulated: bool,
    /// The network broker (docs/network.md) can run here.
    pub net_broker: bool,
    /// Why not, when it cannot.
    pub net_broker_reason: Option<String>,
}

impl Capabilities {
    /// The capabilities as the JSON object JavaScript sees.
    pub fn to_json(&self) -> Value {
        json!({
            "platform": self.platform,
            "isRoot": self.is_root,
            "userNamespaces": self.user_namespaces,
            "userNamespacesReason": self.user_namespaces_reason,
            "landlockAbi": self.landlock_abi,
            "seccomp": self.seccomp,
            "cgroupV2": self.cgroup_v2,
            "runLimits": super::limits::mechanism().0,
            "runLimitsReason": super::limits::mechanism().1,
            "simulated": self.simulated,
            "networkBroker": self.net_broker,
            "networkBrokerReason": self.net_broker_reason,
        })
    }
}

/// The host's capabilities (probed on first use).
pub fn capabilities() -> &'static Capabilities {
    static CAPS: OnceLock<Capabilities> = OnceLock::new();
    CAPS.get_or_init(probe)
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn probe() -> Capabilities {
    let is_root = unsafe { libc::geteuid() } == 0;
    let simulated = std::env::var_os("SCRIPTCAGE_FORCE_NO_NAMESPACES").is_some_and(|v| v == "1");
    let (user_namespaces, reason) = if simulated {
        (
            false,
            Some("disabled by SCRIPTCAGE_FORCE_NO_NAMESPACES=1 (simulation)".to_owned()),
        )
    } else {
        probe_namespaces()
    };
    let broker = super::net::notify::probe();
    Capabilities {
        platform: std::env::consts::OS.to_owned(),
        is_root,
        user_namespaces,
        user_namespaces_reason: reason,
        landlock_abi: landlock_abi(),
        seccomp: unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0,
        cgroup_v2: std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
            && unsafe { libc::access(c"/sys/fs/cgroup/cgroup.procs".as_ptr(), libc::W_OK) } == 0,
        simulated,
        net_broker: broker.is_ok(),
        net_broker_reason: broker.err(),
    }
}

fn landlock_abi() -> i32 {
    // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if r < 0 {
        0
    } else {
        r as i32
    }
}

fn probe_namespaces() -> (bool, Option<String>) {
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWNET
        | libc::SIGCHLD;
    // SAFETY: fork-like clone; the child only calls _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        unsafe { libc::_exit(0) };
    }
    if pid < 0 {
        let err = std::io::Error::last_os_error();
        let mut why =
            format!("clone(CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET) failed: {err}");
        if read_trimmed("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
            why.push_str("; user.max_user_namespaces is 0");
        }
        if read_trimmed("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            why.push_str("; kernel.unprivileged_userns_clone is 0");
        }
        if read_trimmed("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
        {
            why.push_str("; AppArmor restricts unprivileged user namespaces");
        }
        if err.raw_os_error() == Some(libc::EPERM)
            && read_trimmed("/proc/self/status").is_some_and(|s| s.contains("Seccomp:\t2"))
        {
            why.push_str("; a seccomp filter (container runtime) refuses it");
        }
        return (false, Some(why));
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    (true, None)
}
