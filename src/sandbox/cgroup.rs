//! Per-run control groups: whole-run memory, CPU and process limits where
//! the host lets us create cgroups.
//!
//! Only the cgroup v1 controllers are used here (`memory`, `cpuacct`,
//! `pids`), each in its own hierarchy or co-mounted. A run's cgroups are
//! children of the host process's own cgroups (`<own>/scriptcage-<pid>/r<n>`),
//! so the host is never moved and whatever limits the host lives under
//! still hold above the run's. The run's first process writes itself into
//! each `tasks` file before it executes anything (see `process::spawn`);
//! every process of the run inherits the cgroups. cgroup v2 needs a delegated subtree whose
//! parent has the controllers enabled for its children, which a process
//! cannot arrange without moving itself; it is reported as unavailable and
//! the sampling supervisor (`process::usage`) takes over.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The controllers a run cgroup is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// `memory`: limit, peak and OOM kills.
    Memory,
    /// `cpuacct`: CPU time of every task.
    Cpuacct,
    /// `pids`: the number of tasks.
    Pids,
}

impl Controller {
    const ALL: [Controller; 3] = [Controller::Memory, Controller::Cpuacct, Controller::Pids];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
        }
    }
}

/// A cgroup v1 mount as `/proc/self/mountinfo` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// Where the hierarchy is mounted.
    pub mount_point: PathBuf,
    /// The cgroup the mount shows as its root.
    pub root: String,
    /// Controllers bound to the hierarchy.
    pub controllers: Vec<String>,
}

/// Parses the cgroup v1 mounts out of a mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<V1Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        if r.next() != Some("cgroup") {
            continue;
        }
        let _source = r.next();
        let Some(opts) = r.next() else { continue };
        let l: Vec<&str> = left.split_whitespace().collect();
        if l.len() < 5 {
            continue;
        }
        out.push(V1Mount {
            mount_point: PathBuf::from(unescape(l[4])),
            root: unescape(l[3]),
            controllers: opts
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                .map(str::to_owned)
                .collect(),
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's own cgroup in each v1 hierarchy, from `/proc/self/cgroup`
/// (`id:controllers:path` lines): controller → path.
pub fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.push((c.to_owned(), path.to_owned()));
        }
    }
    out
}

/// The directory of the host's own cgroup for `controller`.
pub fn own_dir(mounts: &[V1Mount], own: &[(String, String)], controller: &str) -> Option<PathBuf> {
    let m = mounts
        .iter()
        .find(|m| m.controllers.iter().any(|c| c == controller))?;
    let path = &own.iter().find(|(c, _)| c == controller)?.1;
    // A mount rooted below the hierarchy's root (a container's view) shows
    // paths relative to that root.
    let rel = if m.root == "/" {
        path.as_str()
    } else {
        path.strip_prefix(m.root.as_str()).unwrap_or(path)
    };
    Some(m.mount_point.join(rel.trim_start_matches('/')))
}

/// Where this host process creates run cgroups: one directory per
/// controller, or why it cannot.
#[derive(Debug)]
pub struct Host {
    /// `<own cgroup>/scriptcage-<pid>` per controller, in [`Controller::ALL`]
    /// order.
    bases: [PathBuf; 3],
    /// Whether `memory.memsw.limit_in_bytes` exists (swap accounting).
    memsw: bool,
}

/// The run cgroup mechanism of this host: `Ok` when run cgroups can be
/// made, `Err(reason)` otherwise. Probed once; `SCRIPTCAGE_CGROUP=off`
/// turns it off (the sampling supervisor is used instead).
pub fn host() -> Result<&'static Host, &'static str> {
    static HOST: OnceLock<Result<Host, String>> = OnceLock::new();
    HOST.get_or_init(probe).as_ref().map_err(|s| s.as_str())
}

fn probe() -> Result<Host, String> {
    if std::env::var_os("SCRIPTCAGE_CGROUP").is_some_and(|v| v == "off") {
        return Err("turned off by SCRIPTCAGE_CGROUP=off".into());
    }
    let mounts = parse_mountinfo(
        &std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("mountinfo: {e}"))?,
    );
    let own = parse_proc_cgroup(
        &std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("/proc/self/cgroup: {e}"))?,
    );
    let pid = std::process::id();
    let mut bases: Vec<PathBuf> = Vec::new();
    for c in Controller::ALL {
        let dir = own_dir(&mounts, &own, c.name())
            .ok_or_else(|| format!("no cgroup v1 {} controller is mounted", c.name()))?;
        let base = dir.join(format!("scriptcage-{pid}"));
        sweep(&dir);
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(format!(
                    "cannot create a cgroup under the host's {} cgroup: {e}",
                    c.name()
                ))
            }
        }
        bases.push(base);
    }
    let memsw = bases[0].join("memory.memsw.limit_in_bytes").exists();
    let bases: [PathBuf; 3] = bases.try_into().expect("three controllers");
    let host = Host { bases, memsw };
    // One trial run cgroup proves the limits can be written.
    let trial = host
        .create(&Budget {
            memory_bytes: Some(64 << 20),
            max_processes: Some(8),
        })
        .map_err(|e| format!("cannot configure a run cgroup: {e}"))?;
    drop(trial);
    Ok(host)
}

/// Removes the run cgroups a host process that has ended left behind
/// (they are empty: their processes died with their runs).
fn sweep(own: &Path) {
    let Ok(entries) = std::fs::read_dir(own) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("scriptcage-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = pid == std::process::id() as i32
            || unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if alive {
            continue;
        }
        if let Ok(runs) = std::fs::read_dir(e.path()) {
            for r in runs.flatten() {
                if r.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(r.path());
                }
            }
        }
        let _ = std::fs::remove_dir(e.path());
    }
}

/// The limits a run cgroup enforces by itself (CPU time is watched by the
/// supervisor: v1 has no CPU-time limit, only accounting).
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// `memoryBytes`: memory of every process plus the tmpfs pages they
    /// wrote.
    pub memory_bytes: Option<u64>,
    /// `maxProcesses`: tasks (processes and threads).
    pub max_processes: Option<u64>,
}

impl Host {
    /// Creates the cgroups of one run with `budget` applied.
    pub fn create(&self, budget: &Budget) -> io::Result<RunCgroup> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut dirs: Vec<PathBuf> = Vec::with_capacity(3);
        let made = (|| -> io::Result<()> {
            for base in &self.bases {
                let d = base.join(format!("r{n}"));
                std::fs::create_dir(&d)?;
                dirs.push(d);
            }
            let mem = &dirs[0];
            if let Some(m) = budget.memory_bytes {
                write(mem, "memory.limit_in_bytes", m)?;
                if self.memsw {
                    // No swap: the limit is of memory, not of memory plus swap.
                    write(mem, "memory.memsw.limit_in_bytes", m)?;
                }
            }
            let _ = write(mem, "memory.swappiness", 0);
            if let Some(p) = budget.max_processes {
                write(&dirs[2], "pids.max", p)?;
            }
            Ok(())
        })();
        let procs = match made {
            Ok(()) => dirs
                .iter()
                .map(|d| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(d.join("tasks"))
                        .map(OwnedFd::from)
                })
                .collect::<io::Result<Vec<_>>>(),
            Err(e) => Err(e),
        };
        match procs {
            Ok(procs) => Ok(RunCgroup { dirs, procs }),
            Err(e) => {
                for d in dirs.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                Err(e)
            }
        }
    }
}

fn write(dir: &Path, file: &str, v: u64) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(file))?;
    f.write_all(v.to_string().as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("{file}: {e}")))
}

fn read_small(path: &Path) -> Option<String> {
    let mut s = String::with_capacity(256);
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    Some(s)
}

/// What a run cgroup has counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// CPU time of every task, ns.
    pub cpu_ns: u64,
    /// Highest memory use, bytes.
    pub peak_memory: u64,
    /// Processes now (thread group leaders).
    pub processes: u64,
    /// Processes the kernel killed for the memory limit.
    pub oom_kills: u64,
    /// Forks refused at the task limit.
    pub pids_refused: u64,
}

/// The cgroups of one run, removed when dropped (once its processes are
/// gone).
#[derive(Debug)]
pub struct RunCgroup {
    dirs: Vec<PathBuf>,
    /// `tasks` of each controller, open for the run's first process (a
    /// single thread) to write itself into, or the host its pid.
    procs: Vec<OwnedFd>,
}

impl RunCgroup {
    /// The `tasks` descriptors, for the run's first process to join by
    /// writing "0" (itself) into each.
    pub fn tasks_fds(&self) -> [std::os::fd::RawFd; 3] {
        let mut out = [-1; 3];
        for (o, fd) in out.iter_mut().zip(&self.procs) {
            *o = fd.as_raw_fd();
        }
        out
    }

    /// Moves `pid` (the run's first process, single-threaded and not yet
    /// running) into the run's cgroups. Allocation-free: called between
    /// clone and wake-up.
    pub fn join(&self, pid: libc::pid_t) -> io::Result<()> {
        let mut buf = [0u8; 16];
        let n = format_pid(pid, &mut buf);
        for fd in &self.procs {
            // SAFETY: writes `n` initialised bytes from a stack buffer to a
            // descriptor this value owns.
            let r = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), n) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Reads the run's counters.
    pub fn counters(&self) -> Counters {
        let num = |d: &PathBuf, f: &str| {
            read_small(&d.join(f))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let mut c = Counters {
            cpu_ns: num(&self.dirs[1], "cpuacct.usage"),
            peak_memory: num(&self.dirs[0], "memory.max_usage_in_bytes"),
            ..Default::default()
        };
        if let Some(s) = read_small(&self.dirs[0].join("memory.oom_control")) {
            c.oom_kills = field(&s, "oom_kill").unwrap_or(0);
        }
        if let Some(s) = read_small(&self.dirs[2].join("pids.events")) {
            c.pids_refused = field(&s, "max").unwrap_or(0);
        }
        if let Some(s) = read_small(&self.dirs[0].join("cgroup.procs")) {
            c.processes = s.lines().filter(|l| !l.is_empty()).count() as u64;
        }
        c
    }

    /// Starts the peak memory over (a pooled process at its job's
    /// hand-over: its boot is not the run's).
    pub fn reset_peak(&self) {
        let _ = write(&self.dirs[0], "memory.max_usage_in_bytes", 0);
    }
}

/// `key value` lines (memory.oom_control, pids.events).
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn format_pid(pid: libc::pid_t, buf: &mut [u8; 16]) -> usize {
    let mut v = pid.max(0) as u32;
    let mut tmp = [0u8; 10];
    let mut i = 0;
    loop {
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        i += 1;
        if v == 0 {
            break;
        }
    }
    for j in 0..i {
        buf[j] = tmp[i - 1 - j];
    }
    i
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.procs.clear();
        let dirs = std::mem::take(&mut self.dirs);
        if !remove_all(&dirs) {
            remover()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((dirs, 0));
        }
    }
}

/// Removes a run's cgroups, innermost first; true when none is left.
fn remove_all(dirs: &[PathBuf]) -> bool {
    dirs.iter().rev().all(|d| match std::fs::remove_dir(d) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    })
}

/// Run cgroups waiting to be removed, with the attempts so far. A cgroup can
/// only be removed once its last task has been freed, a little after the
/// run's processes were reaped (or, for a run that returned on its report,
/// killed in the background): one thread retries them all.
type Pending = std::sync::Mutex<Vec<(Vec<PathBuf>, u32)>>;

fn remover() -> &'static Pending {
    static R: OnceLock<&'static Pending> = OnceLock::new();
    R.get_or_init(|| {
        let q: &'static Pending = Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        let _ = std::thread::Builder::new()
            .name("scriptcage-cgroups".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_millis(25));
                let mut pending = q.lock().unwrap_or_else(|e| e.into_inner());
                // About 30 s of attempts: a cgroup whose processes never go
                // is left for the next host's sweep.
                pending.retain_mut(|(dirs, tries)| {
                    *tries += 1;
                    !remove_all(dirs) && *tries < 1200
                });
            });
        q
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_v1_hierarchies_and_the_own_cgroup() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m[3].controllers, ["xattr"]);
        let own = parse_proc_cgroup(
            "4:memory:/docker/abc/svc\n2:cpu,cpuacct:/\n8:pids:/user.slice\n0::/\n",
        );
        assert_eq!(
            own_dir(&m, &own, "memory").unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/svc")
        );
        assert_eq!(
            own_dir(&m, &own, "cpuacct").unwrap(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(
            own_dir(&m, &own, "pids").unwrap(),
            PathBuf::from("/sys/fs/cgroup/pids/user.slice")
        );
        assert!(own_dir(&m, &own, "blkio").is_none());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn counters_fields_and_pid_text() {
        assert_eq!(
            field("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(field("max 7\n", "max"), Some(7));
        let mut b = [0u8; 16];
        let n = format_pid(40213, &mut b);
        assert_eq!(&b[..n], b"40213");
        let n = format_pid(7, &mut b);
        assert_eq!(&b[..n], b"7");
    }
}
