//! Running one process tree to completion: spawn, capture stdout and
//! stderr under a shared byte budget, enforce the wall-clock timeout and
//! cancellation, and make sure nothing the run started survives it.

pub mod cancel;
pub mod launch;
pub mod spawn;
pub mod usage;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

pub use launch::{Isolation, Launch, MountStep};
use spawn::RawChild;

use crate::error::Error;
use crate::sandbox::cgroup::RunCgroup;
use crate::text::utf8_safe_prefix_len;
use usage::{Account, LimitHit, Usage, Watch};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The script process exited by itself; the shell convention code
    /// (status, or 128 + signal).
    Exited(i32),
    /// The wall-clock timeout fired.
    TimedOut,
    /// The caller's `AbortSignal` fired.
    Aborted,
    /// stdout + stderr reached the byte budget.
    OutputLimit,
    /// A whole-run limit (memory or CPU) was exceeded.
    Limit(LimitHit),
}

/// Everything captured from a run.
#[derive(Debug)]
pub struct Outcome {
    /// Captured stdout bytes (within the budget).
    pub stdout: Vec<u8>,
    /// Captured stderr bytes (within the budget).
    pub stderr: Vec<u8>,
    /// How the run ended.
    pub ending: Ending,
    /// What the run consumed.
    pub usage: Usage,
    /// The network broker's summary of the run's connections, when its
    /// connections went through the broker.
    pub network: Option<serde_json::Value>,
}

impl Outcome {
    /// True when capture stopped at the byte budget.
    pub fn truncated(&self) -> bool {
        self.ending == Ending::OutputLimit
    }
}

/// Limits of one run.
#[derive(Debug)]
pub struct Limits {
    /// Wall-clock limit, counted from dispatch.
    pub timeout: Duration,
    /// Budget for stdout + stderr together.
    pub max_output_bytes: usize,
    /// Optional cancellation.
    pub cancel: Option<Arc<cancel::Cancel>>,
    /// Measuring and whole-run limits (`None`: usage from the reaping
    /// only).
    pub watch: Option<Watch>,
}

struct Job {
    launch: Arc<Launch>,
    cgroup: Option<Arc<RunCgroup>>,
    reply: tokio::sync::oneshot::Sender<io::Result<RawChild>>,
}

/// Jobs waiting for the spawner thread: runs first, pool refills after,
/// each in arrival order.
struct Queue<T> {
    runs: std::collections::VecDeque<T>,
    refills: std::collections::VecDeque<T>,
}

impl<T> Queue<T> {
    fn new() -> Self {
        Queue {
            runs: Default::default(),
            refills: Default::default(),
        }
    }

    fn push(&mut self, job: T, refill: bool) {
        if refill {
            self.refills.push_back(job);
        } else {
            self.runs.push_back(job);
        }
    }

    /// A run waiting is never queued behind a refill.
    fn pop(&mut self) -> Option<T> {
        self.runs.pop_front().or_else(|| self.refills.pop_front())
    }
}

struct Spawner {
    queue: Mutex<Queue<Job>>,
    wake: Condvar,
}

/// The spawner thread lives for the whole host process: the init's
/// parent-death signal fires when the *thread* that started it exits, so
/// starting from a pool thread that retires when idle would kill runs.
fn spawner() -> &'static Spawner {
    static S: OnceLock<&'static Spawner> = OnceLock::new();
    S.get_or_init(|| {
        let s: &'static Spawner = Box::leak(Box::new(Spawner {
            queue: Mutex::new(Queue::new()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("scriptcage-spawner".into())
            .spawn(move || loop {
                let job = {
                    let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        if let Some(j) = q.pop() {
                            break j;
                        }
                        q = s.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let r = spawn::spawn(&job.launch, job.cgroup.as_deref());
                let _ = job.reply.send(r);
            })
            .expect("spawn the spawner thread");
        s
    })
}

async fn submit(
    launch: Arc<Launch>,
    cgroup: Option<Arc<RunCgroup>>,
    refill: bool,
) -> io::Result<RawChild> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    let s = spawner();
    {
        let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push(
            Job {
                launch,
                cgroup,
                reply,
            },
            refill,
        );
    }
    s.wake.notify_one();
    rx.await
        .map_err(|_| io::Error::other("spawner thread dropped the request"))?
}

/// Starts `launch` for a run on the spawner thread, in `cgroup` when
/// given.
pub async fn start(launch: Arc<Launch>, cgroup: Option<Arc<RunCgroup>>) -> io::Result<RawChild> {
    submit(launch, cgroup, false).await
}

/// Starts `launch` for a pool refill: it waits behind every run queued.
pub async fn start_refill(
    launch: Arc<Launch>,
    cgroup: Option<Arc<RunCgroup>>,
) -> io::Result<RawChild> {
    submit(launch, cgroup, true).await
}

/// Puts a host-side pipe end in non-blocking mode: tokio only reads and
/// writes after readiness and expects `EAGAIN` afterwards; a blocking
/// descriptor would park a runtime worker thread.
fn nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An async reader for the read end of a pipe.
pub fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    nonblocking(&fd)?;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

/// An async writer for the write end of a pipe.
pub fn sender(fd: OwnedFd) -> io::Result<pipe::Sender> {
    nonblocking(&fd)?;
    pipe::Sender::from_owned_fd_unchecked(fd)
}

/// A started run being supervised.
pub struct Supervised {
    pid: libc::pid_t,
    pidfd: AsyncFd<OwnedFd>,
    pid_namespace: bool,
    killed: bool,
    /// CPU time of the init and everything it reaped, once reaped.
    exit_cpu_ns: Option<u64>,
}

impl Supervised {
    /// Ends the whole process tree of the run.
    pub fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        unsafe {
            if self.pid_namespace {
                // The kernel kills the whole namespace with its init.
                libc::kill(self.pid, libc::SIGKILL);
            } else {
                // The init sweeps its subtree on SIGTERM; the process group
                // kill covers the case where it cannot.
                libc::kill(self.pid, libc::SIGTERM);
            }
        }
    }

    /// Waits for the init to exit and reaps it; returns its exit code.
    pub async fn wait(&mut self) -> i32 {
        loop {
            match spawn::try_reap_with_cpu(self.pidfd.get_ref()) {
                Ok(Some((code, cpu))) => {
                    self.exit_cpu_ns = Some(cpu);
                    return code;
                }
                Ok(None) => {}
                Err(_) => return -1,
            }
            match self.pidfd.readable().await {
                Ok(mut g) => g.clear_ready(),
                Err(_) => return -1,
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // A run abandoned half-way (e.g. its future dropped) still ends.
        if let Ok(None) = spawn::try_reap(self.pidfd.get_ref()) {
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            spawn::reap(self.pidfd.get_ref());
        }
    }
}

struct Capture {
    out: Vec<u8>,
    err: Vec<u8>,
    max: usize,
    full: bool,
}

impl Capture {
    /// Appends `chunk` to one stream; returns false once the budget is hit.
    fn push(&mut self, to_err: bool, chunk: &[u8]) -> bool {
        let used = self.out.len() + self.err.len();
        let (buf, room) = if to_err {
            (&mut self.err, self.max.saturating_sub(used))
        } else {
            (&mut self.out, self.max.saturating_sub(used))
        };
        // Grow by doubling, but never past the budget: a capture near the
        // budget must not hold a buffer of twice its size.
        let need = buf.len() + chunk.len().min(room + 4);
        if need > buf.capacity() {
            let want = (buf.capacity() * 2).max(need).min(self.max + 4).max(need);
            buf.reserve_exact(want - buf.len());
        }
        if chunk.len() <= room {
            buf.extend_from_slice(chunk);
            return true;
        }
        let before = buf.len();
        // Look a few bytes past the cut to tell whether the character that
        // straddles it is complete.
        buf.extend_from_slice(&chunk[..chunk.len().min(room + 4)]);
        let keep = utf8_safe_prefix_len(buf, before + room);
        // Never split a character, including one whose first bytes arrived
        // in an earlier chunk.
        buf.truncate(keep);
        self.full = true;
        false
    }
}

/// Runs being supervised now.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a supervised run; when the last one ends, freed memory goes back
/// to the system. Output buffers of a burst (up to the output budget per
/// run) are freed into the allocator's arenas, which glibc keeps: without a
/// trim the host's RSS stays at the burst's peak.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            trim_heap();
        }
    }
}

/// Returns free heap memory to the system (glibc; a no-op elsewhere).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `launch` under `limits` and captures its output. With a signal
/// pipe (`Launch::ready_pipe`), a "done" there ends the run early (see
/// [`supervise`]).
pub async fn run(launch: Launch, limits: Limits) -> Result<Outcome, Error> {
    run_with_net(launch, limits, None).await
}

/// [`run`] for a launch with a network broker part: the run is attached
/// to the broker with `rules` as soon as it is started.
pub async fn run_with_net(
    launch: Launch,
    limits: Limits,
    rules: Option<Arc<crate::sandbox::net::rules::Rules>>,
) -> Result<Outcome, Error> {
    let cgroup = limits.watch.as_ref().and_then(|w| match &w.meter {
        usage::Meter::Cgroup(c) => Some(c.clone()),
        usage::Meter::Sampling { .. } => None,
    });
    let mut child = start(Arc::new(launch), cgroup)
        .await
        .map_err(|e| Error::Spawn(e.to_string()))?;
    attach_net(&mut child, rules).map_err(|e| Error::Spawn(e.to_string()))?;
    let done = child
        .ready
        .take()
        .map(receiver)
        .transpose()
        .map_err(|e| Error::Spawn(e.to_string()))?;
    supervise(child, limits, done).await
}

/// Attaches a started child's broker channel to the network broker with
/// `rules`. Without a channel, nothing to do; a channel without rules is
/// closed (the run's runtime then fails to start: never unbrokered).
pub fn attach_net(
    child: &mut RawChild,
    rules: Option<Arc<crate::sandbox::net::rules::Rules>>,
) -> io::Result<()> {
    if let (Some(ctl), Some(rules)) = (child.net.take(), rules) {
        // An init already gone (a start that failed) has no namespace to
        // look up: the run reports its own failure; its channel is closed,
        // so nothing of it runs unbrokered.
        child.broker = crate::sandbox::net::broker::attach(ctl, child.pid, rules).ok();
    }
    Ok(())
}

/// The byte a runner writes on its signal pipe once its result is reported
/// and nothing more can come out of it (its event loop is empty and the
/// script left no `exit`/`beforeExit` listener).
pub const DONE: u8 = b'd';

/// How long the output pipes may stay open once the run's init has been
/// reaped. By then every process of the run is gone (the kernel killed its
/// PID namespace, or the init swept its subtree), so a write end that is
/// still open is held by a process outside the run: it may hold the reply
/// up this long, never longer. Data already in a pipe is read regardless.
pub const OUTSIDE_HOLDER_GRACE: Duration = Duration::from_secs(2);

/// Supervises an already started child until its run ends (used directly
/// for pre-started pool processes, whose timeout counts from dispatch).
///
/// `done` is the run's signal pipe. When the runner says [`DONE`], every
/// byte it wrote is already in the pipes (its writes to pipes are
/// synchronous and came first): they are read without waiting, the result
/// is returned at once, and the run's processes are killed and reaped in
/// the background — the runtime's exit, the namespace teardown and the
/// reaping stay off the caller's latency.
pub async fn supervise(
    child: RawChild,
    limits: Limits,
    done: Option<pipe::Receiver>,
) -> Result<Outcome, Error> {
    supervise_with_grace(child, limits, done, OUTSIDE_HOLDER_GRACE).await
}

/// What a non-blocking drain of one pipe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drained {
    /// Empty now, but a writer still holds it open.
    Open,
    /// End of file (or an error): nothing more will come.
    Closed,
    /// The sink refused more (the output budget is spent).
    Full,
}

/// Reads everything `fd` holds right now, without waiting. A direct
/// `read(2)` on the non-blocking descriptor, not the reactor's cached
/// readiness: a host starved of CPU may not have seen the readiness event
/// yet, and the bytes are in the pipe all the same.
fn drain_now(
    fd: &impl std::os::fd::AsRawFd,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Drained {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes and the
        // descriptor is owned by the caller's receiver for the whole call.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            if !sink(&buf[..n as usize]) {
                return Drained::Full;
            }
            continue;
        }
        if n == 0 {
            return Drained::Closed;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Drained::Open,
            _ => return Drained::Closed,
        }
    }
}

/// [`supervise`] with the grace for outside holders as a parameter (the
/// tests run it with zero: data already in the pipes must still be read).
pub async fn supervise_with_grace(
    child: RawChild,
    mut limits: Limits,
    done: Option<pipe::Receiver>,
    grace_after_exit: Duration,
) -> Result<Outcome, Error> {
    let _counted = InFlight::enter();
    let RawChild {
        pid,
        pidfd,
        stdout,
        stderr,
        report,
        pid_namespace,
        stdin: _,
        ready: _,
        net: _,
        broker,
    } = child;
    let summary = || broker.as_ref().map(|b| b.0.summary());
    let mut sup = Supervised {
        pid,
        // SAFETY: the pidfd is owned by the AsyncFd and closed only with it.
        pidfd: unsafe { AsyncFd::register(pidfd) }.map_err(|e| Error::Spawn(e.to_string()))?,
        pid_namespace,
        killed: false,
        exit_cpu_ns: None,
    };
    let mut account = limits.watch.take().map(|w| Account::start(w, pid));
    let mut tick = account
        .as_ref()
        .map(|a| Box::pin(tokio::time::sleep(a.next_interval())));
    let spawn_err = |e: io::Error| Error::Spawn(e.to_string());
    let mut out = receiver(stdout).map_err(spawn_err)?;
    let mut err = receiver(stderr).map_err(spawn_err)?;
    let mut rep = receiver(report).map_err(spawn_err)?;

    let mut cap = Capture {
        out: Vec::new(),
        err: Vec::new(),
        max: limits.max_output_bytes,
        full: false,
    };
    let mut out_open = true;
    let mut err_open = true;
    let mut rep_open = true;
    let mut rep_buf = Vec::with_capacity(8);
    let mut exit: Option<i32> = None;
    let mut ending: Option<Ending> = None;
    let mut ob = vec![0u8; 64 * 1024];
    let mut eb = vec![0u8; 64 * 1024];
    let mut rb = [0u8; 8];

    let deadline = tokio::time::sleep(limits.timeout);
    tokio::pin!(deadline);
    let cancel = limits.cancel.clone();
    let abort_flag = limits.cancel.clone();
    let cancelled = async move {
        match cancel {
            Some(c) => c.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(cancelled);
    let mut grace: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut done_open = done.is_some();
    let mut done = done;
    let mut finished_early = false;
    let mut cut_off = false;

    // Everything the pipes hold right now, read without waiting.
    macro_rules! drain_all {
        () => {{
            if out_open && ending.is_none() {
                match drain_now(&out, &mut ob, |c| cap.push(false, c)) {
                    Drained::Open => {}
                    Drained::Closed => out_open = false,
                    Drained::Full => ending = Some(Ending::OutputLimit),
                }
            }
            if err_open && ending.is_none() {
                match drain_now(&err, &mut eb, |c| cap.push(true, c)) {
                    Drained::Open => {}
                    Drained::Closed => err_open = false,
                    Drained::Full => ending = Some(Ending::OutputLimit),
                }
            }
            if rep_open {
                let mut tmp = [0u8; 8];
                if drain_now(&rep, &mut tmp, |c| {
                    rep_buf.extend_from_slice(c);
                    rep_buf.len() < 64
                }) != Drained::Open
                {
                    rep_open = false;
                }
            }
        }};
    }

    loop {
        if ending.is_some() {
            break;
        }
        if exit.is_some() && !out_open && !err_open && !rep_open {
            break;
        }
        if cut_off || finished_early {
            break;
        }
        let mut exited_now = None;
        let mut tick_due = false;
        tokio::select! {
            r = out.read(&mut ob), if out_open => match r {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => if !cap.push(false, &ob[..n]) { ending = Some(Ending::OutputLimit) },
            },
            r = err.read(&mut eb), if err_open => match r {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => if !cap.push(true, &eb[..n]) { ending = Some(Ending::OutputLimit) },
            },
            r = rep.read(&mut rb), if rep_open => match r {
                Ok(0) | Err(_) => rep_open = false,
                Ok(n) => {
                    rep_buf.extend_from_slice(&rb[..n]);
                    if rep_buf.len() >= 8 {
                        let stage = u32::from_ne_bytes(rep_buf[..4].try_into().unwrap());
                        let errno = i32::from_ne_bytes(rep_buf[4..8].try_into().unwrap());
                        sup.kill();
                        sup.wait().await;
                        return Err(Error::Start { stage, errno });
                    }
                }
            },
            code = sup.wait(), if exit.is_none() => exited_now = Some(code),
            _ = async { tick.as_mut().unwrap().await }, if tick.is_some() && exit.is_none() => tick_due = true,
            _ = async { grace.as_mut().unwrap().await }, if grace.is_some() => {
                // Only a process outside the run can still hold a pipe
                // open: take what it wrote so far and stop waiting for it.
                drain_all!();
                cut_off = true;
            },
            b = async { crate::pool::read_byte(done.as_mut().unwrap()).await }, if done_open && exit.is_none() => match b {
                // An abort or a timeout that is already due wins over a
                // result that arrives in the same instant, as it would
                // over the exit.
                Some(DONE) if abort_flag.as_ref().is_some_and(|c| c.is_fired()) => ending = Some(Ending::Aborted),
                Some(DONE) if deadline.is_elapsed() => ending = Some(Ending::TimedOut),
                Some(DONE) => {
                    drain_all!();
                    if ending.is_none() {
                        finished_early = true;
                    }
                }
                Some(_) => {}
                None => done_open = false,
            },
            // A deadline or an abort that races the exit loses: the run
            // finished, its output is complete.
            _ = &mut deadline, if exit.is_none() => match spawn::try_reap(sup.pidfd.get_ref()) {
                Ok(Some(code)) => exited_now = Some(code),
                _ => ending = Some(Ending::TimedOut),
            },
            _ = &mut cancelled, if exit.is_none() => match spawn::try_reap(sup.pidfd.get_ref()) {
                Ok(Some(code)) => exited_now = Some(code),
                _ => ending = Some(Ending::Aborted),
            },
        }
        if tick_due {
            let a = account.as_mut().expect("ticks only with an account");
            match a.check(pid) {
                Some(hit) => ending = Some(Ending::Limit(hit)),
                None => tick = Some(Box::pin(tokio::time::sleep(a.next_interval()))),
            }
        }
        if finished_early {
            // The result is in; the run's processes still exist for a
            // last reading.
            if let Some(hit) = account.as_mut().and_then(|a| a.check(pid)) {
                finished_early = false;
                ending = Some(Ending::Limit(hit));
            }
        }
        if let Some(code) = exited_now {
            exit = Some(code);
            if let Some(hit) = account.as_mut().and_then(|a| a.check_after_exit()) {
                ending = Some(Ending::Limit(hit));
            }
            // Every process of the run is gone and every byte it wrote is
            // in the pipes: read it all now, whatever the reactor has seen.
            drain_all!();
            if out_open || err_open || rep_open {
                grace = Some(Box::pin(tokio::time::sleep(grace_after_exit)));
            }
        }
    }
    if rep_buf.len() >= 8 {
        let stage = u32::from_ne_bytes(rep_buf[..4].try_into().unwrap());
        let errno = i32::from_ne_bytes(rep_buf[4..8].try_into().unwrap());
        return Err(Error::Start { stage, errno });
    }
    if finished_early {
        // The result is complete: end the run without making the caller
        // wait for its teardown. The kill is sent now; only the reaping is
        // left to the background.
        sup.kill();
        drop((out, err, rep, done));
        let usage = account.as_ref().map(|a| a.usage(None)).unwrap_or_default();
        tokio::spawn(async move {
            sup.wait().await;
            // The run's cgroups go once its processes are gone.
            drop(account);
        });
        return Ok(Outcome {
            network: summary(),
            stdout: cap.out,
            stderr: cap.err,
            ending: Ending::Exited(0),
            usage,
        });
    }
    let ending = match (ending, exit) {
        (Some(e), None) => {
            sup.kill();
            sup.wait().await;
            e
        }
        // Reaped already: its pid may belong to another process by now.
        (Some(e), Some(_)) => e,
        (None, code) => Ending::Exited(code.unwrap_or(-1)),
    };
    let usage = account
        .as_ref()
        .map(|a| a.usage(sup.exit_cpu_ns))
        .unwrap_or_default();
    Ok(Outcome {
        network: summary(),
        stdout: cap.out,
        stderr: cap.err,
        ending,
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_started_before_refills() {
        let mut q = Queue::new();
        q.push("refill 1", true);
        q.push("refill 2", true);
        q.push("run 1", false);
        assert_eq!(q.pop(), Some("run 1"));
        q.push("run 2", false);
        q.push("run 3", false);
        assert_eq!(q.pop(), Some("run 2"));
        assert_eq!(q.pop(), Some("run 3"));
        assert_eq!(q.pop(), Some("refill 1"));
        assert_eq!(q.pop(), Some("refill 2"));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn capture_budget_is_shared_and_utf8_safe() {
        let mut c = Capture {
            out: Vec::new(),
            err: Vec::new(),
            max: 5,
            full: false,
        };
        assert!(c.push(false, b"ab"));
        assert!(!c.push(true, "é€".as_bytes())); // 2 + 3 bytes, room 3
        assert_eq!(c.err, "é".as_bytes());
        assert!(c.full);
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// These tests are about supervision, not the start: they use the
    /// in-process start, which needs no helper executable beside the test
    /// binary (the helper start is exercised by the JavaScript suites).
    fn in_process_start() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| std::env::set_var("SCRIPTCAGE_SPAWN", "inprocess"));
        assert_eq!(spawn::mode(), spawn::SpawnMode::InProcess);
    }

    /// Starts `sh -c script` without isolation.
    async fn start_shell(script: &str) -> RawChild {
        in_process_start();
        let args = [std::ffi::OsStr::new("-c"), std::ffi::OsStr::new(script)];
        let launch = Launch::new(
            std::path::Path::new("/bin/sh"),
            &args,
            &[],
            None,
            Isolation::default(),
        )
        .unwrap();
        start(Arc::new(launch), None).await.unwrap()
    }

    /// Starts `sh -c script` and waits until it has exited (without
    /// reaping it): by the time supervision starts, the exit and all of the
    /// output are ready together.
    async fn exited_shell(script: &str) -> RawChild {
        let child = start_shell(script).await;
        use std::os::fd::AsRawFd;
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pidfd and siginfo buffer; WNOWAIT leaves it unreaped.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                child.pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(r, 0);
        child
    }

    fn limits(timeout: Duration) -> Limits {
        Limits {
            timeout,
            max_output_bytes: 1 << 20,
            cancel: None,
            watch: None,
        }
    }

    #[test]
    fn output_in_the_pipes_at_exit_is_read_even_with_no_grace() {
        runtime().block_on(async {
            for i in 0..100 {
                let child = exited_shell(&format!("printf out-{i}; printf err-{i} >&2")).await;
                let o = supervise_with_grace(
                    child,
                    limits(Duration::from_secs(30)),
                    None,
                    Duration::ZERO,
                )
                .await
                .unwrap();
                assert_eq!(o.ending, Ending::Exited(0));
                assert_eq!(
                    String::from_utf8_lossy(&o.stdout),
                    format!("out-{i}"),
                    "run {i}"
                );
                assert_eq!(
                    String::from_utf8_lossy(&o.stderr),
                    format!("err-{i}"),
                    "run {i}"
                );
            }
        });
    }

    #[test]
    fn an_exit_that_races_the_deadline_wins() {
        in_process_start();
        runtime().block_on(async {
            for i in 0..6 {
                let child = start_shell("sleep 0.1; printf done").await;
                // The host is starved past both the deadline (50 ms) and the
                // exit (~100 ms): the reactor reports both in one turn.
                let starve = async {
                    tokio::task::yield_now().await;
                    std::thread::sleep(Duration::from_millis(1000));
                };
                let (o, ()) = tokio::join!(
                    supervise_with_grace(
                        child,
                        limits(Duration::from_millis(50)),
                        None,
                        Duration::ZERO
                    ),
                    starve
                );
                let o = o.unwrap();
                assert_eq!(o.ending, Ending::Exited(0), "run {i}");
                assert_eq!(o.stdout, b"done", "run {i}");
            }
        });
    }

    #[test]
    fn a_pipe_held_outside_the_run_is_cut_off_after_the_grace_keeping_its_data() {
        runtime().block_on(async {
            let mut child = exited_shell("exit 3").await;
            // Stand-in for a descriptor leaked to a process outside the
            // run: the test keeps the write end of the "stdout" pipe.
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: a valid two-element array for pipe2.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: both descriptors were just created and are owned here.
            let (r, w) = unsafe {
                use std::os::fd::FromRawFd;
                (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
            };
            child.stdout = r;
            use std::os::fd::AsRawFd;
            // SAFETY: writes 5 bytes from a valid buffer.
            assert_eq!(
                unsafe { libc::write(w.as_raw_fd(), b"early".as_ptr().cast(), 5) },
                5
            );
            let t0 = std::time::Instant::now();
            let o = supervise_with_grace(
                child,
                limits(Duration::from_secs(30)),
                None,
                Duration::from_millis(200),
            )
            .await
            .unwrap();
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "held up by the outside holder"
            );
            assert_eq!(o.ending, Ending::Exited(3));
            assert_eq!(o.stdout, b"early");
            drop(w);
        });
    }
}
