//! The warm pool: pre-started, single-use, already sandboxed runtime
//! processes for the ESM runner.
//!
//! A pooled process has booted the runtime and a runner that blocks on
//! stdin for exactly one job. Taking it for a run writes the user's files
//! into its (already mounted) staging directory and sends the job; after
//! that run it exits like any other, and a replacement is started in the
//! background. Processes are keyed by everything that shapes them (runtime,
//! policy, curated host environment, resolution root), so a run never gets
//! a process prepared for different conditions.

pub mod demand;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use demand::Demand;

use crate::process::spawn::{self, RawChild};
use crate::process::{self, Launch};
use crate::runtime::Runtime;
use crate::sandbox::caps::Capabilities;
use crate::sandbox::plan::{self, Report};
use crate::sandbox::policy::{FsMode, Policy};

/// Most idle processes kept across all keys, as a multiple of the size.
const MAX_KEYS: usize = 4;

/// How long a pooled process may take to boot before it is discarded.
const BOOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Largest accepted pool size.
pub const MAX_SIZE: u32 = 64;

/// What a pooled process was prepared for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKey {
    /// The runtime executable.
    pub exe: PathBuf,
    /// Host is Bun.
    pub is_bun: bool,
    /// The policy, as JSON.
    pub policy: String,
    /// The curated host environment at preparation time.
    pub host_env: Vec<(String, String)>,
    /// Directory the staging directory is created in.
    pub parent: PathBuf,
    /// `resolutionRoot`, canonical.
    pub resolution_root: Option<PathBuf>,
}

/// A pre-started process waiting for its job.
pub struct Warm {
    /// Its key.
    pub key: PoolKey,
    /// The started process (stdin is the job pipe).
    pub child: Option<RawChild>,
    /// The staging directory (removed on drop).
    pub dir: crate::staging::Dir,
    /// Canonical path of `dir`.
    pub base: PathBuf,
    /// The readiness channel: the runner writes `a` once it has read its
    /// job.
    pub ready: Option<tokio::net::unix::pipe::Receiver>,
    /// The sandbox report computed when it was prepared.
    pub report: Report,
    /// Owner the staged files must be given (the sandbox uid).
    pub chown_to: Option<(u32, u32)>,
    /// When it was started.
    pub born: Instant,
    /// Its measuring and whole-run limits (its cgroups, joined at boot).
    pub watch: Option<crate::process::usage::Watch>,
}

impl Warm {
    /// True while the process is still waiting (not exited or killed).
    pub fn alive(&self) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| matches!(spawn::try_reap(&c.pidfd), Ok(None)))
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        // An unused pooled process is killed and reaped with its entry.
        // Through its pidfd: `alive()` may have reaped it already, and its
        // pid may belong to another process by now.
        if let Some(c) = self.child.take() {
            use std::os::fd::AsRawFd;
            // SAFETY: pidfd_send_signal on a pidfd this entry owns; no
            // siginfo is passed.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    c.pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0u32,
                )
            };
            spawn::reap(&c.pidfd);
        }
    }
}

struct State {
    size: usize,
    idle: Vec<Warm>,
    /// Processes being started, with the epoch they were started in: those
    /// of an earlier epoch will not be admitted, so they do not count
    /// towards the size.
    starting: Vec<(PoolKey, u64)>,
    /// Bumped by `close` and policy changes: processes started before are
    /// not admitted.
    epoch: u64,
    /// Demand per key (burst allowance above `size`), and whether a decay
    /// timer runs for it.
    demand: Vec<(PoolKey, Demand, bool)>,
}

impl State {
    fn demand_of(&mut self, key: &PoolKey) -> Option<&mut (PoolKey, Demand, bool)> {
        self.demand.iter_mut().find(|(k, _, _)| k == key)
    }

    /// Idle processes `key` should hold now.
    fn target(&self, key: &PoolKey) -> usize {
        self.demand
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, d, _)| d.target(self.size))
            .unwrap_or(self.size)
    }

    /// Bound on idle processes across keys: the base for `MAX_KEYS` keys
    /// plus one key's burst.
    fn idle_cap(&self) -> usize {
        self.size * MAX_KEYS
            + if self.size > 0 {
                demand::burst_cap()
            } else {
                0
            }
    }

    /// Takes out idle processes of `key` above its target (to be dropped
    /// outside the lock).
    fn excess(&mut self, key: &PoolKey) -> Vec<Warm> {
        let target = self.target(key);
        let mut kept = 0;
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.idle.len() {
            if &self.idle[i].key == key {
                if kept >= target {
                    out.push(self.idle.remove(i));
                    continue;
                }
                kept += 1;
            }
            i += 1;
        }
        out
    }
}

/// Limits how many pooled processes boot at once (see `demand::boot_slots`).
fn boot_slots() -> &'static tokio::sync::Semaphore {
    static S: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    S.get_or_init(|| tokio::sync::Semaphore::new(demand::boot_slots()))
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let size = std::env::var("SCRIPTCAGE_WARM_PROCESSES")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map(|n| n.min(MAX_SIZE) as usize)
            .unwrap_or(DEFAULT_SIZE);
        Mutex::new(State {
            size,
            idle: Vec::new(),
            starting: Vec::new(),
            epoch: 0,
            demand: Vec::new(),
        })
    })
}

/// Default number of warm processes per key (see docs/pool.md).
pub const DEFAULT_SIZE: usize = 2;

fn lock() -> std::sync::MutexGuard<'static, State> {
    state().lock().unwrap_or_else(|e| e.into_inner())
}

/// The configured size.
pub fn size() -> usize {
    lock().size
}

/// Sets the size; extra idle processes are retired.
pub fn set_size(n: usize) {
    let retired: Vec<Warm> = {
        let mut s = lock();
        s.size = n;
        // A new size starts the demand record afresh.
        s.demand.clear();
        let mut keep = Vec::new();
        let mut out = Vec::new();
        for w in s.idle.drain(..) {
            if keep.iter().filter(|k: &&Warm| k.key == w.key).count() < n {
                keep.push(w);
            } else {
                out.push(w);
            }
        }
        s.idle = keep;
        out
    };
    drop(retired);
}

/// Kills every idle process and stops admitting ones being started; the
/// pool warms up again lazily on the next run.
pub fn close() -> usize {
    let retired: Vec<Warm> = {
        let mut s = lock();
        s.epoch += 1;
        s.demand.clear();
        s.idle.drain(..).collect()
    };
    let n = retired.len();
    drop(retired);
    n
}

/// Retires idle processes prepared under another policy.
pub fn retire_policy_other_than(policy_json: &str) {
    let retired: Vec<Warm> = {
        let mut s = lock();
        s.epoch += 1;
        let (keep, out): (Vec<Warm>, Vec<Warm>) =
            s.idle.drain(..).partition(|w| w.key.policy == policy_json);
        s.idle = keep;
        out
    };
    drop(retired);
}

/// Number of idle processes (all keys).
pub fn idle_count() -> usize {
    lock().idle.len()
}

/// Pids of idle processes' inits (for tests and diagnostics).
pub fn idle_pids() -> Vec<i32> {
    lock()
        .idle
        .iter()
        .filter_map(|w| w.child.as_ref().map(|c| c.pid))
        .collect()
}

/// Burst processes currently allowed above the base, over all keys.
pub fn burst() -> usize {
    lock().demand.iter().map(|(_, d, _)| d.extra()).sum()
}

/// Takes a live pooled process for `key`, if one is idle. Finding none for
/// a key already in use is a miss: the key may hold one more (see
/// [`demand`]).
pub fn take(key: &PoolKey) -> Option<Warm> {
    let mut dead = Vec::new();
    let found = {
        let mut s = lock();
        let mut found = None;
        while let Some(i) = s.idle.iter().position(|w| &w.key == key) {
            let w = s.idle.remove(i);
            if w.alive() {
                found = Some(w);
                break;
            }
            dead.push(w);
        }
        if found.is_none() && s.size > 0 {
            let burst_cap = demand::burst_cap();
            let now = Instant::now();
            let start_timer = match s.demand_of(key) {
                Some((_, d, timer)) => {
                    d.miss(now, burst_cap);
                    !std::mem::replace(timer, true)
                }
                None => false,
            };
            if start_timer {
                decay_later(key.clone());
            }
        }
        found
    };
    drop(dead);
    found
}

/// Gives a key's burst allowance back, one process per quiet period, and
/// retires the idle processes above the lowered target.
fn decay_later(key: PoolKey) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(demand::QUIET).await;
            let (retired, done) = {
                let mut s = lock();
                let Some((_, d, timer)) = s.demand_of(&key) else {
                    break;
                };
                d.decay(Instant::now());
                let done = d.extra() == 0;
                if done {
                    *timer = false;
                }
                (s.excess(&key), done)
            };
            drop(retired);
            if done {
                break;
            }
        }
    });
}

/// Starts replacements for `key` in the background until the pool holds
/// its size of idle (or starting) processes for it.
pub fn refill(key: &PoolKey, runtime: &Runtime, policy: &Policy, caps: &'static Capabilities) {
    let (need, epoch) = {
        let mut s = lock();
        if s.size == 0 {
            return;
        }
        let epoch = s.epoch;
        if s.demand_of(key).is_none() {
            s.demand
                .push((key.clone(), Demand::new(Instant::now()), false));
        }
        let target = s.target(key);
        let have = s.idle.iter().filter(|w| &w.key == key).count()
            + s.starting
                .iter()
                .filter(|(k, e)| k == key && *e == epoch)
                .count();
        let need = target.saturating_sub(have);
        for _ in 0..need {
            s.starting.push((key.clone(), epoch));
        }
        (need, s.epoch)
    };
    for _ in 0..need {
        let key = key.clone();
        let runtime = runtime.clone();
        let policy = policy.clone();
        tokio::spawn(async move {
            // Boots are CPU-bound: at most one per core at a time.
            let slot = boot_slots().acquire().await;
            let warm = prepare(&key, &runtime, &policy, caps).await;
            drop(slot);
            let rejected = {
                let mut s = lock();
                if let Some(i) = s
                    .starting
                    .iter()
                    .position(|(k, e)| k == &key && *e == epoch)
                {
                    s.starting.remove(i);
                }
                match warm {
                    // Admitted unless stale, or the size shrank meanwhile.
                    Some(w)
                        if s.epoch == epoch
                            && s.idle.iter().filter(|i| i.key == key).count() < s.target(&key) =>
                    {
                        s.idle.push(w);
                        // Bound the number of keys kept warm: oldest out.
                        let cap = s.idle_cap();
                        let excess = s.idle.len().saturating_sub(cap);
                        s.idle.drain(..excess).collect::<Vec<_>>()
                    }
                    Some(w) => vec![w],
                    None => Vec::new(),
                }
            };
            drop(rejected);
        });
    }
}

/// Starts [`refill`] when dropped: at the end of the run that took (or
/// missed) a pooled process, whichever way it ends.
pub struct RefillAfter {
    key: PoolKey,
    runtime: Runtime,
    policy: Policy,
    caps: &'static Capabilities,
}

impl RefillAfter {
    /// A refill of `key`, due when the value is dropped.
    pub fn new(
        key: PoolKey,
        runtime: &Runtime,
        policy: &Policy,
        caps: &'static Capabilities,
    ) -> Self {
        RefillAfter {
            key,
            runtime: runtime.clone(),
            policy: policy.clone(),
            caps,
        }
    }
}

impl Drop for RefillAfter {
    fn drop(&mut self) {
        // Dropped inside the run's task, so a tokio runtime is current.
        if tokio::runtime::Handle::try_current().is_ok() {
            refill(&self.key, &self.runtime, &self.policy, self.caps);
        }
    }
}

/// Reads one byte; `None` at end of file or on error.
pub async fn read_byte(rx: &mut tokio::net::unix::pipe::Receiver) -> Option<u8> {
    use tokio::io::AsyncReadExt;
    let mut b = [0u8; 1];
    (rx.read(&mut b).await.ok()? == 1).then_some(b[0])
}

/// True when an injected environment needs a cold start: the runtime reads
/// these variables while it boots (locale, module paths, warnings, TLS), so
/// setting them afterwards in a pooled process would not take effect.
pub fn env_needs_cold_start(injected: &[(String, String)]) -> bool {
    injected.iter().any(|(k, _)| {
        matches!(k.as_str(), "LANG" | "LANGUAGE")
            || [
                "LC_",
                "NODE_",
                "UV_",
                "OPENSSL_",
                "SSL_CERT_",
                "BUN_",
                "MALLOC_",
                "GLIBC_",
            ]
            .iter()
            .any(|p| k.starts_with(p))
    })
}

/// Starts one pooled process for `key`.
async fn prepare(
    key: &PoolKey,
    runtime: &Runtime,
    policy: &Policy,
    caps: &'static Capabilities,
) -> Option<Warm> {
    let prefix = if key.resolution_root.is_some() {
        ".scriptcage-"
    } else {
        "scriptcage-"
    };
    let dir = crate::staging::create(&key.parent, prefix).ok()?;
    let base = std::fs::canonicalize(dir.path()).ok()?;
    // The same file name as a cold run's runner: it shows in
    // `process.argv[1]`, in stack frames and in the staging directory's
    // listing, and a pooled run must be indistinguishable from a cold one.
    let runner = base.join("runner.mjs");
    std::fs::write(&runner, crate::esm::runner_source::pool_runner_source()).ok()?;
    let sandboxed_fs = policy.enabled && caps.user_namespaces && policy.filesystem != FsMode::Off;
    let root_dir = base.join("root");
    let work_dir = base.join("work");
    if sandboxed_fs {
        std::fs::create_dir(&root_dir).ok()?;
        std::fs::create_dir(&work_dir).ok()?;
    }
    let tmpfs = if sandboxed_fs {
        vec![PathBuf::from("/tmp"), work_dir.clone()]
    } else {
        Vec::new()
    };
    let paths = plan::RunPaths {
        staged: Some(base.clone()),
        scratch: Some(work_dir),
        bind_rw: None,
        node_modules: key.resolution_root.as_ref().map(|r| r.join("node_modules")),
        exe: runtime.exe.clone(),
        data_headroom: runtime.data_headroom(),
    };
    let mut p = plan::plan(
        policy,
        caps,
        &paths,
        sandboxed_fs.then_some(root_dir.as_path()),
    );
    if p.report.refusal(policy).is_some() {
        return None;
    }
    let watch = crate::sandbox::limits::watch(policy, &mut p.report, tmpfs);
    let cgroup = match &watch.meter {
        crate::process::usage::Meter::Cgroup(c) => Some(c.clone()),
        crate::process::usage::Meter::Sampling { .. } => None,
    };
    if let Some((uid, gid)) = p.chown_to {
        crate::esm::run::chown_tree(&base, uid, gid).ok()?;
    }
    let mut env = key.host_env.clone();
    if let Some(extra) = runtime.extra_env() {
        env.push(extra);
    }
    let args = runtime.module_args(&runner);
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut launch =
        Launch::new(&runtime.exe, &arg_refs, &env, p.cwd.as_deref(), p.isolation).ok()?;
    launch.stdin_pipe = true;
    let mut child = process::start_refill(std::sync::Arc::new(launch), cgroup)
        .await
        .ok()?;
    // Attached at boot: the runner's connections are brokered from its
    // first instruction; the log is the run's (one job per process).
    process::attach_net(&mut child, p.net.clone()).ok()?;
    // Admitted only once booted: a run handed a process that is still
    // starting would wait for the boot anyway.
    let ready = child.ready.take()?;
    let mut ready = process::receiver(ready).ok()?;
    let booted = tokio::time::timeout(BOOT_TIMEOUT, read_byte(&mut ready))
        .await
        .ok()
        .flatten()
        == Some(b'r');
    let warm = Warm {
        key: key.clone(),
        child: Some(child),
        ready: Some(ready),
        dir,
        base,
        report: p.report,
        chown_to: p.chown_to,
        born: Instant::now(),
        watch: Some(watch),
    };
    if !booted {
        return None; // dropping `warm` kills it
    }
    Some(warm)
}
