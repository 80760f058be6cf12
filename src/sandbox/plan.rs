//! Turning a policy, the host's capabilities and a run's paths into the
//! [`Isolation`] the child applies, and the report that says what holds.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::caps::Capabilities;
use super::policy::{FsMode, NetMode, OnUnavailable, Policy, PrivMode};
use crate::process::launch::{cpath, IdMaps, Isolation, MountStep, NetBroker};

/// Report layers.
pub const LAYERS: [&str; 4] = ["resources", "filesystem", "network", "privilege"];

/// Paths of one run that the sandbox must expose.
#[derive(Debug, Clone, Default)]
pub struct RunPaths {
    /// Per-run directory with the staged files: visible read-only.
    pub staged: Option<PathBuf>,
    /// Writable scratch working directory: a private tmpfs in the sandbox.
    pub scratch: Option<PathBuf>,
    /// A caller-chosen working directory: bound read-write.
    pub bind_rw: Option<PathBuf>,
    /// `<resolutionRoot>/node_modules`, bound read-only under
    /// `scratch-plus-ro`.
    pub node_modules: Option<PathBuf>,
    /// The runtime executable.
    pub exe: PathBuf,
    /// Writable address space the runtime reserves at start-up without
    /// using it (added to the memory limit so that scripts get the
    /// requested amount).
    pub data_headroom: u64,
}

/// The effective sandbox of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Layer → in force as requested.
    pub enforced: [bool; 4],
    /// (layer, reason) pairs for layers that could not be applied.
    pub downgrades: Vec<(&'static str, String)>,
    /// (layer, note) pairs.
    pub notes: Vec<(&'static str, String)>,
}

impl Report {
    /// The report as `EffectiveSandbox` JSON.
    pub fn to_json(&self, policy: &Policy, platform: &str) -> Value {
        json!({
            "requested": policy.to_json(),
            "enforced": {
                "resources": self.enforced[0],
                "filesystem": self.enforced[1],
                "network": self.enforced[2],
                "privilege": self.enforced[3],
            },
            "downgrades": self.downgrades.iter().map(|(l, r)| json!({ "layer": l, "reason": r })).collect::<Vec<_>>(),
            "notes": self.notes.iter().map(|(l, n)| json!({ "layer": l, "note": n })).collect::<Vec<_>>(),
            "platform": platform,
        })
    }

    /// The refusal message when the policy says `fail` and something was
    /// downgraded.
    pub fn refusal(&self, policy: &Policy) -> Option<String> {
        if policy.enabled
            && policy.on_unavailable == OnUnavailable::Fail
            && !self.downgrades.is_empty()
        {
            let reasons: Vec<String> = self
                .downgrades
                .iter()
                .map(|(l, r)| format!("{l}: {r}"))
                .collect();
            Some(format!(
                "Sandbox unavailable (onUnavailable: \"fail\"): {}",
                reasons.join("; ")
            ))
        } else {
            None
        }
    }
}

/// The ids a sandboxed run uses when the host is root.
pub fn drop_ids(policy: &Policy) -> (u32, u32) {
    let env_id = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&v| v != 0)
    };
    let uid = policy
        .uid
        .or_else(|| env_id("SCRIPTCAGE_SANDBOX_UID"))
        .unwrap_or(65534);
    let gid = policy
        .gid
        .or_else(|| env_id("SCRIPTCAGE_SANDBOX_GID"))
        .unwrap_or(65534);
    (uid, gid)
}

/// The result of planning: what the child applies, which uid must own the
/// staged files, and the report.
#[derive(Debug)]
pub struct Plan {
    /// The child's isolation.
    pub isolation: Isolation,
    /// Owner the staged files must be given (when the script runs as
    /// another uid).
    pub chown_to: Option<(u32, u32)>,
    /// The working directory of the script, when the sandbox chooses it.
    pub cwd: Option<PathBuf>,
    /// What holds.
    pub report: Report,
    /// The rules the network broker enforces, when the run is brokered.
    pub net: Option<std::sync::Arc<super::net::rules::Rules>>,
}

/// System directories exposed read-only.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

struct RootBuilder {
    root: PathBuf,
    steps: Vec<MountStep>,
    made: Vec<PathBuf>,
    /// Host paths something is mounted on.
    targets: Vec<PathBuf>,
}

impl RootBuilder {
    fn inside(&self, host: &Path) -> PathBuf {
        self.root.join(host.strip_prefix("/").unwrap_or(host))
    }

    fn c(p: &Path) -> std::ffi::CString {
        cpath(p).unwrap_or_default()
    }

    /// `mkdir -p` of a host path inside the new root.
    fn dirs(&mut self, host: &Path) {
        let mut acc = PathBuf::from("/");
        for comp in host.components().skip(1) {
            acc.push(comp);
            if !self.made.contains(&acc) {
                self.made.push(acc.clone());
                let p = self.inside(&acc);
                self.steps.push(MountStep::Dir(Self::c(&p)));
            }
        }
    }

    fn bind(&mut self, host: &Path, readonly: bool, recursive: bool) {
        if host.is_dir() {
            self.dirs(host);
        } else {
            if let Some(parent) = host.parent() {
                self.dirs(parent);
            }
            self.steps
                .push(MountStep::File(Self::c(&self.inside(host))));
        }
        self.targets.push(host.to_path_buf());
        self.steps.push(MountStep::Bind {
            source: Self::c(host),
            target: Self::c(&self.inside(host)),
            readonly,
            recursive,
        });
    }

    fn tmpfs(&mut self, host: &Path, data: String) {
        self.dirs(host);
        self.targets.push(host.to_path_buf());
        self.steps.push(MountStep::Tmpfs {
            target: Self::c(&self.inside(host)),
            data: std::ffi::CString::new(data).unwrap_or_default(),
        });
    }

    fn covered(&self, host: &Path) -> bool {
        SYSTEM_DIRS.iter().any(|d| host.starts_with(d))
    }

    /// A read-only bind of `host` (inside the new root) onto itself, with
    /// what is mounted below it: the directory and everything created in
    /// it become read-only, the mounts below keep their own flags.
    fn seal(&mut self, host: &Path) {
        let p = Self::c(&self.inside(host));
        self.steps.push(MountStep::Bind {
            source: p.clone(),
            target: p,
            readonly: true,
            recursive: true,
        });
    }

    /// Makes read-only the directories that exist in a writable mount
    /// (`writable`: the private /tmp, the scratch directory) only as the
    /// way to a mount point, such as `<checkout>/node_modules/…` for a
    /// runtime bound under `/tmp`. They mirror host paths; a write there
    /// would succeed in the run's private copy and look, from inside, like a
    /// write to the host's path. Each topmost such directory is sealed;
    /// mount points themselves carry their own mount's flags. Runs after
    /// every other mount, which the seal then includes.
    fn seal_mount_point_paths(&mut self, writable: &[PathBuf]) {
        let tops: Vec<PathBuf> = self
            .made
            .iter()
            .filter(|d| {
                d.parent().is_some_and(|p| writable.iter().any(|w| w == p))
                    && !self.targets.contains(d)
            })
            .cloned()
            .collect();
        for d in tops {
            self.seal(&d);
        }
    }
}

/// Why `unrestricted` with `denyLinkLocalAndMetadata` is not what it
/// asks for on the host network.
pub const UNBLOCKED_METADATA: &str = "denyLinkLocalAndMetadata is not enforced: link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10) and the host's loopback stay reachable on the host network";

/// The network layer of an `unrestricted` run on the host's network: in
/// force only when the policy asks for no block at all.
fn unrestricted(policy: &Policy, report: &mut Report) {
    if policy.deny_link_local_and_metadata {
        report
            .downgrades
            .push(("network", UNBLOCKED_METADATA.into()));
    } else {
        report.enforced[2] = true;
    }
}

/// The note of a brokered run.
pub const BROKERED: &str = "connections go through the host's network broker: each destination is checked when it is connected, names are resolved by the host";

/// The policy's network rules.
fn net_rules(policy: &Policy) -> Result<super::net::rules::Rules, String> {
    use super::net::rules::{Mode, Rules};
    let mode = match policy.network {
        NetMode::Unrestricted => Mode::Unrestricted,
        NetMode::Allowlist => Mode::Allowlist,
        NetMode::Deny => Mode::Deny,
    };
    Rules::new(
        mode,
        &policy.allow,
        policy.deny_link_local_and_metadata,
        policy.deny_private,
    )
    .map_err(|(i, why)| format!("network.allow[{i}]: {why}"))
}

/// Plans a run. `root_dir` is an empty host directory that becomes the new
/// root (only used when the filesystem layer applies).
pub fn plan(
    policy: &Policy,
    caps: &Capabilities,
    paths: &RunPaths,
    root_dir: Option<&Path>,
) -> Plan {
    let mut report = Report::default();
    let mut iso = Isolation::default();
    if !policy.enabled {
        return Plan {
            isolation: iso,
            chown_to: None,
            cwd: None,
            report,
            net: None,
        };
    }
    let host_uid = unsafe { libc::geteuid() };
    let host_gid = unsafe { libc::getegid() };
    let root_host = host_uid == 0;
    let mut chown_to = None;
    let mut cwd = None;
    let mut net = None;

    // Resources: rlimits need no privilege.
    let r = &policy.resources;
    if let Some(cpu) = r.cpu_seconds {
        // The soft limit delivers SIGXCPU (reported as the CPU limit); the
        // hard limit one second later is the kernel's SIGKILL.
        iso.rlimits.push((libc::RLIMIT_CPU as i32, cpu, cpu + 1));
    }
    if let Some(mem) = r.memory_bytes {
        iso.rlimits.push((
            libc::RLIMIT_DATA as i32,
            mem + paths.data_headroom,
            mem + paths.data_headroom,
        ));
        if paths.data_headroom > 0 {
            report.notes.push((
                "resources",
                format!(
                    "the runtime reserves {} MiB of writable address space at start-up: its data limit is memoryBytes plus that",
                    paths.data_headroom >> 20
                ),
            ));
        }
    }
    for (res, v) in [
        (libc::RLIMIT_NOFILE, r.max_open_files),
        (libc::RLIMIT_NPROC, r.max_processes),
        (libc::RLIMIT_FSIZE, r.max_file_size_bytes),
    ] {
        if let Some(v) = v {
            iso.rlimits.push((res as i32, v, v));
        }
    }
    iso.rlimits.push((libc::RLIMIT_CORE as i32, 0, 0));
    report.enforced[0] = true;

    let (drop_uid, drop_gid) = drop_ids(policy);
    let dropping = root_host && policy.privilege == PrivMode::DropToUid;
    let (run_uid, run_gid) = if dropping {
        (drop_uid, drop_gid)
    } else {
        (host_uid, host_gid)
    };
    iso.no_new_privs = true;
    // The syscall filter (docs/sandbox.md): whatever else the host offers.
    match (caps.seccomp, super::seccomp::programs()) {
        (true, Ok(programs)) => {
            iso.seccomp = programs.to_vec();
            report.notes.push(("privilege", super::seccomp::summary()));
        }
        (false, _) => report.downgrades.push((
            "privilege",
            "this host refuses seccomp filters: no syscall filter".into(),
        )),
        (true, Err(why)) => report
            .downgrades
            .push(("privilege", format!("no syscall filter: {why}"))),
    }

    if caps.user_namespaces {
        iso.deny_nested_userns = true;
        iso.clone_flags =
            libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC;
        iso.id_maps = Some(if dropping {
            // The init stays host root (mapped to itself) so that it can
            // reach bind sources under 0700 directories such as /root; the
            // script process switches to the unprivileged uid before
            // `execve`, with no capabilities and `no_new_privs`.
            IdMaps {
                uid_map: format!("0 0 1\n{run_uid} {run_uid} 1\n"),
                gid_map: format!("0 0 1\n{run_gid} {run_gid} 1\n"),
                deny_setgroups: false,
            }
        } else {
            IdMaps {
                uid_map: format!("{run_uid} {run_uid} 1\n"),
                gid_map: format!("{run_gid} {run_gid} 1\n"),
                deny_setgroups: !root_host,
            }
        });
        if dropping {
            iso.ids = Some((run_uid, run_gid));
            chown_to = Some((run_uid, run_gid));
        }
        report.enforced[3] = true;
        if !root_host && policy.privilege == PrivMode::DropToUid {
            report.notes.push(("privilege", format!("host is not root: the script keeps uid {host_uid}, with no capabilities and no_new_privs")));
        }
        // Each private tmpfs is also bounded by the memory budget: what a
        // run keeps there is memory the whole-run limit counts.
        let tmp_size = match (r.max_file_size_bytes, r.memory_bytes) {
            (Some(f), Some(m)) => Some(f.min(m)),
            (f, m) => f.or(m),
        }
        .map(|s| format!(",size={s}"))
        .unwrap_or_default();
        match (policy.filesystem, root_dir) {
            (FsMode::Off, _) | (_, None) => {
                // Still a private /proc: the host's processes and their
                // environments stay out of sight.
                iso.mounts.push(MountStep::Proc(c"/proc".into()));
                if policy.filesystem != FsMode::Off {
                    report
                        .downgrades
                        .push(("filesystem", "no directory for the sandbox root".into()));
                } else {
                    report.notes.push(("filesystem", "filesystem mode off: the host filesystem is visible (with a private /proc)".into()));
                }
            }
            (mode, Some(root)) => {
                let mut b = RootBuilder {
                    root: root.to_path_buf(),
                    steps: Vec::new(),
                    made: vec![PathBuf::from("/")],
                    targets: Vec::new(),
                };
                b.steps.push(MountStep::Tmpfs {
                    target: RootBuilder::c(root),
                    data: c"mode=0755".into(),
                });
                for d in SYSTEM_DIRS {
                    let p = Path::new(d);
                    match std::fs::symlink_metadata(p) {
                        Ok(m) if m.file_type().is_symlink() => {
                            if let Ok(t) = std::fs::read_link(p) {
                                b.made.push(p.to_path_buf());
                                b.steps.push(MountStep::Symlink {
                                    target: RootBuilder::c(&t),
                                    path: RootBuilder::c(&b.inside(p)),
                                });
                            }
                        }
                        Ok(m) if m.is_dir() => b.bind(p, true, true),
                        _ => {}
                    }
                }
                b.dirs(Path::new("/proc"));
                b.steps.push(MountStep::Proc(RootBuilder::c(
                    &b.inside(Path::new("/proc")),
                )));
                b.tmpfs(Path::new("/dev"), "mode=0755".into());
                for dev in ["null", "zero", "random", "urandom"] {
                    let p = Path::new("/dev").join(dev);
                    b.steps.push(MountStep::File(RootBuilder::c(&b.inside(&p))));
                    b.steps.push(MountStep::Bind {
                        source: RootBuilder::c(&p),
                        target: RootBuilder::c(&b.inside(&p)),
                        readonly: false,
                        recursive: false,
                    });
                }
                for (name, target) in [
                    ("fd", "/proc/self/fd"),
                    ("stdin", "/proc/self/fd/0"),
                    ("stdout", "/proc/self/fd/1"),
                    ("stderr", "/proc/self/fd/2"),
                ] {
                    b.steps.push(MountStep::Symlink {
                        target: RootBuilder::c(Path::new(target)),
                        path: RootBuilder::c(&b.inside(&Path::new("/dev").join(name))),
                    });
                }
                b.tmpfs(Path::new("/tmp"), format!("mode=1777{tmp_size}"));
                if !b.covered(&paths.exe) {
                    b.bind(&paths.exe, true, false);
                }
                if let Some(s) = &paths.staged {
                    b.bind(s, true, false);
                }
                if let Some(s) = &paths.scratch {
                    b.tmpfs(
                        s,
                        format!("mode=0700,uid={run_uid},gid={run_gid}{tmp_size}"),
                    );
                    cwd = Some(s.clone());
                }
                if let Some(d) = &paths.bind_rw {
                    b.bind(d, false, true);
                    cwd = Some(d.clone());
                }
                if mode == FsMode::ScratchPlusRo {
                    if let Some(nm) = paths.node_modules.as_ref().filter(|p| p.is_dir()) {
                        b.bind(nm, true, true);
                    }
                }
                let mut writable = vec![PathBuf::from("/tmp")];
                writable.extend(paths.scratch.iter().cloned());
                b.seal_mount_point_paths(&writable);
                // /dev holds only the device nodes and links made above; a
                // file created there would be the run's own, under a name
                // that reads like a device of the host's.
                b.seal(Path::new("/dev"));
                iso.mounts = b.steps;
                iso.new_root = Some(RootBuilder::c(root));
                report.enforced[1] = true;
            }
        }
        match policy.network {
            NetMode::Unrestricted
                if !policy.deny_link_local_and_metadata && !policy.deny_private =>
            {
                // No block asked for: the host network, in force as asked.
                report.enforced[2] = true;
            }
            NetMode::Deny => {
                iso.clone_flags |= libc::CLONE_NEWNET;
                iso.loopback_up = true;
                report.enforced[2] = true;
                if policy.filesystem == FsMode::Off {
                    report.notes.push((
                        "network",
                        "filesystem mode off: unix sockets on the host filesystem stay reachable"
                            .into(),
                    ));
                }
            }
            NetMode::Unrestricted | NetMode::Allowlist => {
                // The run's own namespace either way: brokered connections
                // when the broker can run, else loopback only (narrowed,
                // never widened).
                iso.clone_flags |= libc::CLONE_NEWNET;
                iso.loopback_up = true;
                match (caps.net_broker, net_rules(policy)) {
                    (true, Ok(rules)) => {
                        iso.net = Some(NetBroker {
                            notify: super::net::notify::program(),
                            dns: super::net::broker::host_nameservers()
                                .iter()
                                .map(|a| a.octets())
                                .collect(),
                        });
                        net = Some(std::sync::Arc::new(rules));
                        report.enforced[2] = true;
                        report.notes.push(("network", BROKERED.into()));
                        if policy.filesystem == FsMode::Off {
                            report.notes.push((
                                "network",
                                "filesystem mode off: unix sockets on the host filesystem stay reachable"
                                    .into(),
                            ));
                        }
                    }
                    (_, Err(why)) => report.downgrades.push((
                        "network",
                        format!("{why}; the run gets a loopback-only network (deny)"),
                    )),
                    (false, _) => report.downgrades.push((
                        "network",
                        format!(
                            "network rules cannot be enforced here ({}); the run gets a loopback-only network (deny)",
                            caps.net_broker_reason.as_deref().unwrap_or("no network broker")
                        ),
                    )),
                }
            }
        }
    } else {
        let why = caps
            .user_namespaces_reason
            .clone()
            .unwrap_or_else(|| "user namespaces unavailable".into());
        if policy.filesystem != FsMode::Off {
            report.downgrades.push((
                "filesystem",
                format!("no private filesystem view or PID namespace: {why}"),
            ));
        } else {
            report
                .notes
                .push(("filesystem", format!("no PID namespace: {why}")));
        }
        match policy.network {
            NetMode::Unrestricted => unrestricted(policy, &mut report),
            _ => report
                .downgrades
                .push(("network", format!("no network namespace: {why}"))),
        }
        if dropping {
            iso.ids = Some((run_uid, run_gid));
            chown_to = Some((run_uid, run_gid));
        }
        report.enforced[3] = true;
        if r.max_processes.is_some() {
            report.notes.push((
                "resources",
                format!("maxProcesses counts every process of uid {run_uid}, not only this run's"),
            ));
        }
    }
    if !report.enforced[1] && policy.filesystem == FsMode::Off {
        // Nothing was requested, so nothing is missing.
        report.enforced[1] = false;
    }
    Plan {
        isolation: iso,
        chown_to,
        cwd,
        report,
        net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::policy::profile;

    fn caps(userns: bool) -> Capabilities {
        Capabilities {
            platform: "linux".into(),
            is_root: false,
            user_namespaces: userns,
            user_namespaces_reason: (!userns).then(|| "simulated".into()),
            landlock_abi: 0,
            seccomp: true,
            cgroup_v2: false,
            simulated: !userns,
            net_broker: true,
            net_broker_reason: None,
        }
    }

    fn paths() -> RunPaths {
        RunPaths {
            staged: Some("/tmp/sc-x".into()),
            scratch: Some("/tmp/sc-x/work".into()),
            exe: "/opt/rt/node".into(),
            ..Default::default()
        }
    }

    #[test]
    fn off_applies_nothing() {
        let p = plan(
            &profile("off").unwrap(),
            &caps(true),
            &paths(),
            Some(Path::new("/tmp/sc-x/root")),
        );
        assert_eq!(p.isolation.clone_flags, 0);
        assert!(p.isolation.mounts.is_empty() && p.isolation.rlimits.is_empty());
        assert_eq!(p.report.enforced, [false; 4]);
        assert!(p.report.refusal(&profile("off").unwrap()).is_none());
    }

    #[test]
    fn standard_builds_namespaces_root_and_limits() {
        let pol = profile("standard").unwrap();
        let p = plan(
            &pol,
            &caps(true),
            &paths(),
            Some(Path::new("/tmp/sc-x/root")),
        );
        let f = p.isolation.clone_flags;
        assert!(
            f & libc::CLONE_NEWUSER != 0
                && f & libc::CLONE_NEWPID != 0
                && f & libc::CLONE_NEWNS != 0
        );
        assert!(
            f & libc::CLONE_NEWNET != 0,
            "standard is brokered: its own network namespace"
        );
        assert!(p.isolation.loopback_up && p.isolation.net.is_some() && p.net.is_some());
        assert!(p.isolation.no_new_privs);
        assert!(p.isolation.new_root.is_some());
        let has = |needle: &str| {
            p.isolation
                .mounts
                .iter()
                .any(|m| format!("{m:?}").contains(needle))
        };
        assert!(has("Proc(\"/tmp/sc-x/root/proc\")"));
        assert!(has("/tmp/sc-x/root/tmp"));
        assert!(
            has("/tmp/sc-x/root/opt/rt/node"),
            "runtime outside the system dirs is bound"
        );
        assert!(p
            .isolation
            .rlimits
            .iter()
            .any(|&(r, s, h)| r == libc::RLIMIT_CPU as i32 && s == 60 && h == 61));
        assert_eq!(p.report.enforced, [true; 4]);
        assert!(p.report.downgrades.is_empty());
        assert_eq!(p.cwd.as_deref(), Some(Path::new("/tmp/sc-x/work")));
    }

    fn no_broker(userns: bool) -> Capabilities {
        Capabilities {
            net_broker: false,
            net_broker_reason: Some("simulated".into()),
            ..caps(userns)
        }
    }

    #[test]
    fn unenforceable_network_rules_are_a_downgrade_refused_under_fail() {
        let base = profile("standard").unwrap();
        let fail = base
            .merged(&serde_json::json!({ "onUnavailable": "fail" }))
            .unwrap();
        // No namespaces: the host network, which does not block metadata.
        let p = plan(&fail, &no_broker(false), &paths(), Some(Path::new("/r")));
        assert!(!p.report.enforced[2]);
        let why = p.report.refusal(&fail).expect("refused under fail");
        assert!(
            why.contains("metadata") && why.contains("loopback"),
            "{why}"
        );
        // Namespaces but no broker: narrowed to loopback only.
        let p = plan(&fail, &no_broker(true), &paths(), Some(Path::new("/r")));
        assert!(!p.report.enforced[2]);
        assert!(p.isolation.clone_flags & libc::CLONE_NEWNET != 0);
        assert!(p.isolation.net.is_none() && p.net.is_none());
        let why = p.report.refusal(&fail).expect("refused under fail");
        assert!(
            why.contains("loopback-only") && why.contains("simulated"),
            "{why}"
        );
        // Opting out of the block is the host network, in force as asked.
        let open = fail
            .merged(&serde_json::json!({ "network": { "denyLinkLocalAndMetadata": false } }))
            .unwrap();
        for c in [caps(true), no_broker(true)] {
            let p = plan(&open, &c, &paths(), Some(Path::new("/r")));
            assert!(p.report.enforced[2]);
            assert!(p.report.downgrades.is_empty());
            assert_eq!(p.isolation.clone_flags & libc::CLONE_NEWNET, 0);
            assert!(p.isolation.net.is_none());
            assert!(p.report.refusal(&open).is_none());
        }
        // denyPrivate alone still needs the broker.
        let private = open
            .merged(&serde_json::json!({ "network": { "denyPrivate": true } }))
            .unwrap();
        assert!(plan(&private, &caps(true), &paths(), Some(Path::new("/r")))
            .isolation
            .net
            .is_some());
    }

    fn ro_self_binds(p: &Plan) -> Vec<String> {
        p.isolation
            .mounts
            .iter()
            .filter_map(|m| match m {
                MountStep::Bind {
                    source,
                    target,
                    readonly: true,
                    recursive: true,
                } if source == target => Some(target.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn paths_that_exist_only_as_mount_points_are_read_only() {
        let pol = profile("standard").unwrap();
        // A runtime in a checkout under /tmp, staging under /tmp/a/b.
        let under_tmp = RunPaths {
            staged: Some("/tmp/a/b/sc-x".into()),
            scratch: Some("/tmp/a/b/sc-x/work".into()),
            exe: "/tmp/clone/node_modules/bun/bin/bun".into(),
            ..Default::default()
        };
        let p = plan(&pol, &caps(true), &under_tmp, Some(Path::new("/r")));
        let sealed = ro_self_binds(&p);
        assert_eq!(sealed, vec!["/r/tmp/clone", "/r/tmp/a", "/r/dev"]);
        // Sealed after everything they contain is mounted.
        let last_other = p
            .isolation
            .mounts
            .iter()
            .rposition(|m| {
                matches!(
                    m,
                    MountStep::Tmpfs { .. }
                        | MountStep::Bind {
                            readonly: false,
                            ..
                        }
                )
            })
            .unwrap();
        let first_seal = p
            .isolation
            .mounts
            .iter()
            .position(|m| matches!(m, MountStep::Bind { source, target, .. } if source == target))
            .unwrap();
        assert!(first_seal > last_other);
        // Staging right in /tmp: its mount point is the staged bind itself.
        let p = plan(&pol, &caps(true), &paths(), Some(Path::new("/r")));
        assert_eq!(ro_self_binds(&p), vec!["/r/dev"]);
    }

    #[test]
    fn strict_denies_network() {
        let pol = profile("strict").unwrap();
        let p = plan(&pol, &caps(true), &paths(), Some(Path::new("/r")));
        assert!(p.isolation.clone_flags & libc::CLONE_NEWNET != 0);
        assert!(p.isolation.loopback_up);
        assert!(p.report.refusal(&pol).is_none());
    }

    #[test]
    fn without_namespaces_standard_degrades_and_strict_refuses() {
        let std_p = plan(
            &profile("standard").unwrap(),
            &caps(false),
            &paths(),
            Some(Path::new("/r")),
        );
        assert_eq!(std_p.isolation.clone_flags, 0);
        assert!(!std_p.report.enforced[1]);
        assert!(std_p
            .report
            .downgrades
            .iter()
            .any(|(l, _)| *l == "filesystem"));
        assert!(std_p
            .report
            .refusal(&profile("standard").unwrap())
            .is_none());
        let strict = profile("strict").unwrap();
        let st = plan(&strict, &caps(false), &paths(), Some(Path::new("/r")));
        let reason = st.report.refusal(&strict).expect("strict refuses");
        assert!(reason.contains("filesystem") && reason.contains("network"));
    }

    #[test]
    fn allowlist_is_brokered_or_narrowed_to_deny() {
        let pol = profile("standard")
            .unwrap()
            .merged(
                &serde_json::json!({ "network": { "mode": "allowlist", "allow": ["10.0.0.0/8", "*.example.com:443"] } }),
            )
            .unwrap();
        let p = plan(&pol, &caps(true), &paths(), Some(Path::new("/r")));
        assert!(p.report.enforced[2]);
        assert!(p.report.downgrades.is_empty());
        assert!(p.isolation.net.is_some());
        let p = plan(&pol, &no_broker(true), &paths(), Some(Path::new("/r")));
        assert!(!p.report.enforced[2]);
        assert!(p.report.downgrades.iter().any(|(l, _)| *l == "network"));
        assert!(
            p.isolation.clone_flags & libc::CLONE_NEWNET != 0,
            "narrowed to deny, never widened"
        );
        assert!(p.isolation.net.is_none());
    }
}
