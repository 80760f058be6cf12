//! What a run consumed, and the whole-run memory and CPU limits.
//!
//! Two ways to measure a run: its cgroups (`sandbox::cgroup`), which the
//! kernel keeps exactly and which hold memory by themselves; or, where no
//! cgroup can be made, sampling the run's process tree through `/proc`
//! (the "sampling supervisor"), with the per-process rlimits of the plan as
//! the backstop between samples. Either way the supervisor checks the run
//! on a timer and ends it when it goes over its budget.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sandbox::cgroup::{Counters, RunCgroup};

/// What one run consumed (the `usage` of a result).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Wall-clock time from start (or, pooled, from the job's hand-over) to
    /// the end, ms.
    pub wall_ms: f64,
    /// CPU time of every process of the run, ms.
    pub cpu_ms: f64,
    /// The most memory the run held at once, bytes.
    pub peak_memory_bytes: u64,
    /// The most processes the run had at once (sampled; at least the
    /// runtime or shell itself).
    pub processes: u64,
}

/// A whole-run limit that ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// `memoryBytes`.
    Memory,
    /// `cpuSeconds`.
    Cpu,
}

/// How a run is measured.
#[derive(Debug)]
pub enum Meter {
    /// The run's own cgroups (shared with the spawner, which moves the
    /// run's first process into them).
    Cgroup(Arc<RunCgroup>),
    /// Sampling `/proc` under the run's init; `tmpfs` are the run's
    /// private tmpfs mounts as seen from inside its root (`/tmp`, the
    /// scratch directory), whose contents count as memory.
    Sampling {
        /// Mount points inside the run's root.
        tmpfs: Vec<PathBuf>,
    },
}

/// The measuring and limits of one run.
#[derive(Debug)]
pub struct Watch {
    /// How.
    pub meter: Meter,
    /// `cpuSeconds` for the whole run.
    pub cpu_limit: Option<Duration>,
    /// `memoryBytes` for the whole run (enforced by the kernel under a
    /// cgroup, checked on samples otherwise).
    pub memory_limit: Option<u64>,
}

/// One reading of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// CPU time, ns.
    pub cpu_ns: u64,
    /// Memory now (sampling) or the peak so far (cgroup), bytes.
    pub memory: u64,
    /// Processes now.
    pub processes: u64,
    /// Processes killed by the kernel for the memory limit.
    pub oom_kills: u64,
}

impl From<Counters> for Reading {
    fn from(c: Counters) -> Self {
        Reading {
            cpu_ns: c.cpu_ns,
            memory: c.peak_memory,
            // The init is the sandbox's, not the script's.
            processes: c.processes.saturating_sub(1),
            oom_kills: c.oom_kills,
        }
    }
}

/// The running account of one run.
#[derive(Debug)]
pub struct Account {
    watch: Watch,
    started: Instant,
    /// CPU before the run (a pooled process's boot).
    base_cpu_ns: u64,
    /// OOM kills before the run.
    base_oom: u64,
    peak_memory: u64,
    peak_processes: u64,
    last: Reading,
}

/// Longest time between two checks of a run with a budget.
const MAX_INTERVAL: Duration = Duration::from_millis(100);
/// Between two samples of a process tree (no cgroup): memory can grow
/// this long unseen, bounded per process by the plan's `RLIMIT_DATA`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);
/// Shortest time between two checks.
const MIN_INTERVAL: Duration = Duration::from_millis(5);

impl Account {
    /// Starts the account of a run whose first process is `pid` (the init).
    /// For a pooled process this is called at the job's hand-over, so the
    /// boot does not count.
    pub fn start(watch: Watch, pid: libc::pid_t) -> Self {
        let r = read(&watch.meter, pid);
        if let Meter::Cgroup(cg) = &watch.meter {
            cg.reset_peak();
        }
        Account {
            watch,
            started: Instant::now(),
            base_cpu_ns: r.cpu_ns,
            base_oom: r.oom_kills,
            peak_memory: 0,
            peak_processes: 0,
            last: Reading::default(),
        }
    }

    /// Whether the run needs checking on a timer.
    pub fn has_budget(&self) -> bool {
        self.watch.cpu_limit.is_some() || self.watch.memory_limit.is_some()
    }

    /// Reads the run now; returns the limit it went over, if any.
    pub fn check(&mut self, pid: libc::pid_t) -> Option<LimitHit> {
        let r = read(&self.watch.meter, pid);
        self.note(r);
        verdict(
            self.cpu_ns(),
            self.last.memory,
            self.last.oom_kills.saturating_sub(self.base_oom),
            matches!(self.watch.meter, Meter::Cgroup(_)),
            self.watch.cpu_limit,
            self.watch.memory_limit,
        )
    }

    /// Like [`Account::check`] once the run's processes are gone: only
    /// what the kernel kept counts (a cgroup's totals; a sample would find
    /// nothing).
    pub fn check_after_exit(&mut self) -> Option<LimitHit> {
        match &self.watch.meter {
            Meter::Cgroup(cg) => {
                let r = Reading::from(cg.counters());
                self.note(r);
                verdict(
                    self.cpu_ns(),
                    self.last.memory,
                    self.last.oom_kills.saturating_sub(self.base_oom),
                    true,
                    self.watch.cpu_limit,
                    self.watch.memory_limit,
                )
            }
            Meter::Sampling { .. } => None,
        }
    }

    fn note(&mut self, r: Reading) {
        // A tree sample sees only live processes: CPU of those reaped by
        // the init still counts through its children's times, and what
        // went before never shrinks.
        let cpu_ns = r.cpu_ns.max(self.last.cpu_ns);
        self.last = Reading { cpu_ns, ..r };
        self.peak_memory = self.peak_memory.max(r.memory);
        self.peak_processes = self.peak_processes.max(r.processes);
    }

    fn cpu_ns(&self) -> u64 {
        self.last.cpu_ns.saturating_sub(self.base_cpu_ns)
    }

    /// How long until the next check: the CPU budget cannot run out
    /// sooner than its remainder spread over every core.
    pub fn next_interval(&self) -> Duration {
        let max = match self.watch.meter {
            Meter::Cgroup(_) => MAX_INTERVAL,
            Meter::Sampling { .. } => SAMPLE_INTERVAL,
        };
        next_interval(
            self.watch.cpu_limit,
            self.cpu_ns(),
            cores(),
            self.started.elapsed(),
            max,
        )
    }

    /// The final figures; `exit_cpu_ns` is the CPU the kernel reported when
    /// the init was reaped (itself and everything it reaped), when known.
    pub fn usage(&self, exit_cpu_ns: Option<u64>) -> Usage {
        let mut cpu = self.cpu_ns();
        if let (Meter::Sampling { .. }, Some(x)) = (&self.watch.meter, exit_cpu_ns) {
            cpu = cpu.max(x.saturating_sub(self.base_cpu_ns));
        }
        Usage {
            wall_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            cpu_ms: cpu as f64 / 1e6,
            peak_memory_bytes: self.peak_memory,
            processes: self.peak_processes.max(1),
        }
    }

    /// A final reading while the run's processes still exist (a run
    /// returning on its report, before it is killed).
    pub fn sample(&mut self, pid: libc::pid_t) {
        let r = read(&self.watch.meter, pid);
        self.note(r);
    }

    /// The run cgroup, to be dropped once the run's processes are reaped.
    pub fn into_watch(self) -> Watch {
        self.watch
    }

    /// The run's cgroups, when it has them.
    pub fn cgroup(&self) -> Option<&Arc<RunCgroup>> {
        match &self.watch.meter {
            Meter::Cgroup(c) => Some(c),
            Meter::Sampling { .. } => None,
        }
    }
}

/// Pure: whether the figures of a run are over its budget.
pub fn verdict(
    cpu_ns: u64,
    memory: u64,
    oom_kills: u64,
    kernel_holds_memory: bool,
    cpu_limit: Option<Duration>,
    memory_limit: Option<u64>,
) -> Option<LimitHit> {
    if memory_limit.is_some() && oom_kills > 0 {
        return Some(LimitHit::Memory);
    }
    if let Some(m) = memory_limit {
        // Under a cgroup the peak may touch the limit while the kernel
        // reclaims; only a kill means the run went over.
        if !kernel_holds_memory && memory > m {
            return Some(LimitHit::Memory);
        }
    }
    if let Some(c) = cpu_limit {
        if cpu_ns >= c.as_nanos() as u64 {
            return Some(LimitHit::Cpu);
        }
    }
    None
}

/// Pure: the wait before the next check.
pub fn next_interval(
    cpu_limit: Option<Duration>,
    cpu_used_ns: u64,
    cores: u32,
    _elapsed: Duration,
    max: Duration,
) -> Duration {
    let mut d = max;
    if let Some(c) = cpu_limit {
        let left = c.saturating_sub(Duration::from_nanos(cpu_used_ns));
        d = d.min(left / cores.max(1));
    }
    d.max(MIN_INTERVAL)
}

fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

fn read(meter: &Meter, pid: libc::pid_t) -> Reading {
    match meter {
        Meter::Cgroup(cg) => cg.counters().into(),
        Meter::Sampling { tmpfs } => sample_tree(pid, tmpfs),
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times.
fn clock_ticks() -> u64 {
    static T: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *T.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    })
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    }
}

/// Parses utime, stime, cutime, cstime (clock ticks) out of a
/// `/proc/<pid>/stat` line.
pub fn stat_times(stat: &str) -> Option<[u64; 4]> {
    // The command name is in parentheses and may hold anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid pgrp session tty tpgid flags minflt
    // cminflt majflt cmajflt utime(11) stime cutime cstime.
    let g = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some([g(11)?, g(12)?, g(13)?, g(14)?])
}

/// Memory a process holds that no other process shares with it (resident
/// minus file-backed and shared pages), from `/proc/<pid>/statm`.
pub fn statm_private(statm: &str, page: u64) -> Option<u64> {
    let mut f = statm.split_whitespace();
    let _size = f.next()?;
    let resident: u64 = f.next()?.parse().ok()?;
    let shared: u64 = f.next()?.parse().ok()?;
    Some(resident.saturating_sub(shared) * page)
}

/// Samples the process tree under `pid`: CPU (each live process's own and
/// reaped children's time), private memory, the run's tmpfs contents.
fn sample_tree(pid: libc::pid_t, tmpfs: &[PathBuf]) -> Reading {
    let tick_ns = 1_000_000_000 / clock_ticks();
    let page = page_size();
    let mut r = Reading::default();
    let mut todo = vec![pid];
    let mut seen = 0usize;
    while let Some(p) = todo.pop() {
        seen += 1;
        if seen > 65_536 {
            break;
        }
        let dir = PathBuf::from(format!("/proc/{p}"));
        if let Some(t) = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .as_deref()
            .and_then(stat_times)
        {
            r.cpu_ns += t.iter().sum::<u64>() * tick_ns;
        }
        if p != pid {
            // The init is the sandbox's, not the script's.
            r.processes += 1;
            if let Some(m) = std::fs::read_to_string(dir.join("statm"))
                .ok()
                .and_then(|s| statm_private(&s, page))
            {
                r.memory += m;
            }
        }
        // Children are listed per thread.
        if let Ok(tasks) = std::fs::read_dir(dir.join("task")) {
            for t in tasks.flatten() {
                if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                    todo.extend(c.split_whitespace().filter_map(|x| x.parse::<i32>().ok()));
                }
            }
        }
    }
    for m in tmpfs {
        let path =
            PathBuf::from(format!("/proc/{pid}/root")).join(m.strip_prefix("/").unwrap_or(m));
        if let Some(used) = used_bytes(&path) {
            r.memory += used;
        }
    }
    r
}

fn used_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_blocks - st.f_bfree) as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_hostile_names() {
        let s = "42 (a) b) (c) S 1 42 42 0 -1 4194304 100 0 0 0 25 7 3 1 20 0 1 0";
        assert_eq!(stat_times(s), Some([25, 7, 3, 1]));
        assert_eq!(stat_times("garbage"), None);
    }

    #[test]
    fn private_memory_from_statm() {
        assert_eq!(
            statm_private("1000 300 100 10 0 500 0", 4096),
            Some(200 * 4096)
        );
        assert_eq!(statm_private("1 2", 4096), None);
    }

    #[test]
    fn verdicts() {
        let s = Duration::from_secs(1);
        assert_eq!(verdict(0, 0, 0, true, Some(s), Some(10)), None);
        assert_eq!(
            verdict(1_000_000_000, 0, 0, true, Some(s), None),
            Some(LimitHit::Cpu)
        );
        assert_eq!(
            verdict(0, 0, 1, true, None, Some(10)),
            Some(LimitHit::Memory)
        );
        // A cgroup's peak at the limit is not a breach; a sample above is.
        assert_eq!(verdict(0, 11, 0, true, None, Some(10)), None);
        assert_eq!(
            verdict(0, 11, 0, false, None, Some(10)),
            Some(LimitHit::Memory)
        );
        // Memory is named before CPU when both are over.
        assert_eq!(
            verdict(2_000_000_000, 11, 0, false, Some(s), Some(10)),
            Some(LimitHit::Memory)
        );
    }

    #[test]
    fn checks_come_sooner_as_the_cpu_budget_runs_out() {
        let max = Duration::from_millis(100);
        let z = Duration::ZERO;
        assert_eq!(next_interval(None, 0, 2, z, max), max);
        assert_eq!(
            next_interval(Some(Duration::from_millis(100)), 0, 2, z, max),
            Duration::from_millis(50)
        );
        assert_eq!(
            next_interval(Some(Duration::from_secs(1)), 999_000_000, 2, z, max),
            MIN_INTERVAL
        );
    }

    #[test]
    fn samples_this_process_tree() {
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        // Enough CPU to show in clock ticks, however busy the machine.
        let t = Instant::now();
        let own = || {
            let s = std::fs::read_to_string("/proc/self/stat").unwrap();
            stat_times(&s).unwrap().iter().sum::<u64>()
        };
        while own() < 2 && t.elapsed() < Duration::from_secs(20) {
            std::hint::black_box(0u64);
        }
        let r = sample_tree(me, &[]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(r.processes >= 1, "{r:?}");
        assert!(r.cpu_ns > 0, "{r:?}");
    }
}
