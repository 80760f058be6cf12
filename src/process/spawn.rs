//! Starting a run, host side.
//!
//! By default a `CLONE_VM` child, created directly in the run's new
//! namespaces, executes the small helper binary (`crates/helper`), which
//! becomes the run's init: the host's address space is shared with that
//! child for a few system calls and never copied, so a run costs the same
//! whatever the host's size. The host writes the id maps, wakes the child,
//! and supervises the init through a pidfd. The child side lives in
//! [`scriptcage_helper::contain`].
//!
//! ```text
//! host ──clone(CLONE_VM|CLONE_NEW*)──> exec scriptcage-helper (init)
//!                                        └──fork──> runtime
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_long};

use scriptcage_helper::contain::{self, ChildFds};
use scriptcage_helper::fds as helper_fds;
use scriptcage_helper::wire;

use super::launch::Launch;
use crate::sandbox::cgroup::RunCgroup;

/// A started run, as seen by the host.
#[derive(Debug)]
pub struct RawChild {
    /// Pid of the init process (in the host's PID namespace).
    pub pid: libc::pid_t,
    /// A pidfd for the init process.
    pub pidfd: OwnedFd,
    /// Read end of the script's stdout.
    pub stdout: OwnedFd,
    /// Read end of the script's stderr.
    pub stderr: OwnedFd,
    /// Read end of the failure channel: EOF without data once the runtime
    /// has been `exec`ed, else an 8-byte (stage, errno) record.
    pub report: OwnedFd,
    /// True when the init is pid 1 of its own PID namespace.
    pub pid_namespace: bool,
    /// Write end of the script's stdin, when the launch asked for a pipe.
    pub stdin: Option<OwnedFd>,
    /// Read end of the readiness pipe (pooled processes): one byte once the
    /// runtime has booted.
    pub ready: Option<OwnedFd>,
    /// The host's end of the network broker's channel, when the launch has
    /// a broker part: the listener and the DNS stub's sockets arrive there.
    pub net: Option<OwnedFd>,
    /// The run's attachment to the network broker (set by
    /// `process::attach_net`); dropping it detaches the run.
    pub broker: Option<crate::sandbox::net::broker::Attached>,
}

pub use scriptcage_helper::contain::{Stage, READY_FD};

fn cvt(r: c_long) -> io::Result<c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as c_long)?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How runs are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnMode {
    /// A `CLONE_VM` child (no copy of the host's memory or page tables)
    /// that executes the helper binary, which becomes the run's init.
    Helper,
    /// The first round's start: a fork-like clone of the host that becomes
    /// the init itself. Copies the host's page tables on every run; kept
    /// selectable (`SCRIPTCAGE_SPAWN=inprocess`) for comparison only.
    InProcess,
}

/// The spawn mode, read once from `SCRIPTCAGE_SPAWN`.
pub fn mode() -> SpawnMode {
    static MODE: std::sync::OnceLock<SpawnMode> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("SCRIPTCAGE_SPAWN").as_deref() {
        Ok("inprocess") => SpawnMode::InProcess,
        _ => SpawnMode::Helper,
    })
}

/// Starts the run described by `launch`. Must be called on the dedicated
/// spawner thread, which lives as long as the host: the init's
/// parent-death signal is tied to the thread that started it.
///
/// `cgroup`: the run's cgroups, which its first process joins before it
/// may run (everything it starts inherits them).
pub fn spawn(launch: &Launch, cgroup: Option<&RunCgroup>) -> io::Result<RawChild> {
    match mode() {
        SpawnMode::Helper => spawn_helper(launch, helper::path()?, cgroup),
        SpawnMode::InProcess => spawn_inprocess(launch, cgroup),
    }
}

/// The descriptors both starts create.
struct Pipes {
    out: (OwnedFd, OwnedFd),
    err: (OwnedFd, OwnedFd),
    rep: (OwnedFd, OwnedFd),
    sync: Option<(OwnedFd, OwnedFd)>,
    stdin: Option<(OwnedFd, OwnedFd)>,
    ready: Option<(OwnedFd, OwnedFd)>,
    /// (host end, child end) of the broker's channel.
    net: Option<(OwnedFd, OwnedFd)>,
}

/// A close-on-exec unix seqpacket pair.
fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: socketpair writes two descriptors into the array.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } as c_long)?;
    // SAFETY: both are fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Pipes {
    fn new(launch: &Launch, always_sync: bool) -> io::Result<Self> {
        let sync = if always_sync || launch.isolation.id_maps.is_some() {
            Some(pipe()?)
        } else {
            None
        };
        Ok(Pipes {
            out: pipe()?,
            err: pipe()?,
            rep: pipe()?,
            sync,
            stdin: launch.stdin_pipe.then(pipe).transpose()?,
            ready: (launch.stdin_pipe || launch.ready_pipe)
                .then(pipe)
                .transpose()?,
            net: launch
                .isolation
                .net
                .is_some()
                .then(seqpacket_pair)
                .transpose()?,
        })
    }

    /// After the clone: drops the child's ends, moves the child into the
    /// run's cgroups, writes the id maps, wakes
    /// the child and returns the host's view of the run.
    fn finish(
        self,
        launch: &Launch,
        pid: libc::pid_t,
        pidfd: OwnedFd,
        cgroup: Option<&RunCgroup>,
    ) -> io::Result<RawChild> {
        let Pipes {
            out,
            err,
            rep,
            sync,
            stdin,
            ready,
            net,
        } = self;
        drop((out.1, err.1, rep.1));
        let net = net.map(|(host, child)| {
            drop(child);
            host
        });
        let stdin = stdin.map(|(r, w)| {
            drop(r);
            w
        });
        let ready = ready.map(|(r, w)| {
            drop(w);
            r
        });
        if let Some((sync_r, sync_w)) = sync {
            drop(sync_r);
            let joined = match cgroup {
                Some(cg) => cg.join(pid),
                None => Ok(()),
            };
            let mapped = joined.and_then(|()| match &launch.isolation.id_maps {
                Some(maps) => write_id_maps(pid, maps),
                None => Ok(()),
            });
            if let Err(e) = mapped {
                // SAFETY: pid is our child, still unreaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                reap(&pidfd);
                return Err(e);
            }
            // Wake the child.
            let one = [1u8];
            // SAFETY: a one-byte write to a pipe we own.
            unsafe { libc::write(sync_w.as_raw_fd(), one.as_ptr().cast(), 1) };
        }
        Ok(RawChild {
            pid,
            pidfd,
            stdout: out.0,
            stderr: err.0,
            report: rep.0,
            pid_namespace: launch.isolation.clone_flags & libc::CLONE_NEWPID != 0,
            stdin,
            ready,
            net,
            broker: None,
        })
    }
}

/// The in-process start: a fork-like clone of the host becomes the init.
fn spawn_inprocess(launch: &Launch, cgroup: Option<&RunCgroup>) -> io::Result<RawChild> {
    if launch.isolation.net.is_some() {
        // The plan only asks for the broker in the helper start.
        return Err(io::Error::from_raw_os_error(libc::ENOTSUP));
    }
    let pipes = Pipes::new(launch, cgroup.is_some())?;
    let fds = ChildFds {
        stdin: pipes
            .stdin
            .as_ref()
            .map(|(r, _)| r.as_raw_fd())
            .unwrap_or(-1),
        ready: pipes
            .ready
            .as_ref()
            .map(|(_, w)| w.as_raw_fd())
            .unwrap_or(-1),
        out: pipes.out.1.as_raw_fd(),
        err: pipes.err.1.as_raw_fd(),
        report: pipes.rep.1.as_raw_fd(),
        sync: pipes
            .sync
            .as_ref()
            .map(|(r, _)| r.as_raw_fd())
            .unwrap_or(-1),
    };
    let flags = launch.isolation.clone_flags | libc::CLONE_PIDFD | libc::SIGCHLD;
    let mut pidfd: c_int = -1;
    // SAFETY: a fork-like clone (no new stack); the child only runs
    // `init_main`, which never returns and never allocates.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            &mut pidfd as *mut c_int,
            std::ptr::null_mut::<c_int>(),
            0 as libc::c_ulong,
        )
    };
    if pid == 0 {
        // SAFETY: we are the child of the clone above.
        unsafe { contain::init_main(launch, &fds) }
    }
    let pid = cvt(pid)? as libc::pid_t;
    // SAFETY: the kernel returned a fresh pidfd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    pipes.finish(launch, pid, pidfd, cgroup)
}

/// What the `CLONE_VM` child reads; everything lives in the spawning
/// thread's frame until the child has executed the helper.
struct ExecArgs {
    helper: *const libc::c_char,
    argv: [*const libc::c_char; 2],
    envp: [*const libc::c_char; 1],
    stdin: RawFd,
    out: RawFd,
    err: RawFd,
    report: RawFd,
    plan: RawFd,
    ready: RawFd,
    sync: RawFd,
    exec_notify: RawFd,
    /// The child's end of the broker's channel, or -1.
    net: RawFd,
    /// Carry the new user namespace's capabilities across the `execve`.
    keep_caps: bool,
    /// The run's cgroup `tasks` files (-1: none), which the child joins
    /// itself.
    cgroup_tasks: [RawFd; 3],
}

/// Where the spawning child parks the sync and exec-notify descriptors
/// while it waits (above the readiness descriptor, below nothing we keep).
const SYNC_FD: c_int = helper_fds::READY + 1;
const NOTIFY_FD: c_int = helper_fds::READY + 2;
/// Descriptors are raised at least this high before they are moved into
/// place, so that no move clobbers another.
const RAISE_FD: c_int = helper_fds::READY + 3;

/// The `CLONE_VM` child: runs on its own small stack in the host's address
/// space, with every signal blocked. It arranges the descriptors, waits for
/// the id maps, and executes the helper.
///
/// Shared memory means: no allocation, no locks, no writes to anything but
/// its own stack (raw system calls may still set the spawning thread's
/// `errno`, which that thread does not read while it waits for us).
extern "C" fn exec_helper(arg: *mut libc::c_void) -> c_int {
    // SAFETY: `arg` is the `ExecArgs` of the spawning thread, alive until we
    // exec or exit; only raw descriptor calls follow.
    unsafe {
        let a = &*(arg as *const ExecArgs);
        // Parent death (the spawner thread) ends the run; set before the
        // wait below so that no death goes unnoticed.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        // Join the run's cgroups, before anything of the run exists: a
        // thread that moves itself ("0" into `tasks`) skips the kernel's
        // global threadgroup lock, whose first writer after a quiet spell
        // waits for an RCU grace period (≈ 12 ms measured here) — the cost
        // the host would pay moving the child by pid.
        for fd in a.cgroup_tasks {
            if fd >= 0 && libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                contain::fail(a.report, Stage::Cgroup);
            }
        }
        let raise = |fd: RawFd| {
            if fd < 0 {
                -1
            } else {
                libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, RAISE_FD)
            }
        };
        let rep = raise(a.report);
        if rep < 0 {
            libc::_exit(127);
        }
        let input = if a.stdin >= 0 {
            raise(a.stdin)
        } else {
            raise(libc::open(
                c"/dev/null".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC,
            ))
        };
        let out = raise(a.out);
        let err = raise(a.err);
        let plan = raise(a.plan);
        let ready = raise(a.ready);
        let sync = raise(a.sync);
        let notify = raise(a.exec_notify);
        let net = raise(a.net);
        if a.net >= 0 && net < 0 {
            contain::fail(rep, Stage::Fds);
        }
        if input < 0 || out < 0 || err < 0 || plan < 0 || sync < 0 || notify < 0 {
            contain::fail(rep, Stage::Fds);
        }
        if a.ready >= 0 && ready < 0 {
            contain::fail(rep, Stage::Fds);
        }
        for (fd, target) in [
            (input, 0),
            (out, 1),
            (err, 2),
            (rep, helper_fds::REPORT),
            (plan, helper_fds::PLAN),
        ] {
            if libc::dup2(fd, target) < 0 {
                contain::fail(rep, Stage::Fds);
            }
        }
        if ready >= 0 && libc::dup2(ready, helper_fds::READY) < 0 {
            contain::fail(rep, Stage::Fds);
        }
        if net >= 0 && libc::dup2(net, helper_fds::NET) < 0 {
            contain::fail(rep, Stage::Fds);
        }
        if libc::dup3(sync, SYNC_FD, libc::O_CLOEXEC) < 0
            || libc::dup3(notify, NOTIFY_FD, libc::O_CLOEXEC) < 0
        {
            contain::fail(rep, Stage::Fds);
        }
        let rep = helper_fds::REPORT;
        // Nothing else of the host's descriptors crosses into the run.
        let first_closed = if net >= 0 {
            helper_fds::NET + 1
        } else {
            helper_fds::PLAN + 1
        };
        libc::syscall(
            libc::SYS_close_range,
            first_closed as u32,
            (helper_fds::READY - 1) as u32,
            0u32,
        );
        if ready < 0 {
            libc::close(helper_fds::READY);
        }
        libc::syscall(
            libc::SYS_close_range,
            (NOTIFY_FD + 1) as u32,
            u32::MAX,
            0u32,
        );
        let mut b = [0u8; 1];
        if libc::read(SYNC_FD, b.as_mut_ptr().cast(), 1) != 1 {
            // The host is gone, or refused the run: nothing to report to.
            libc::_exit(127);
        }
        libc::close(SYNC_FD);
        if a.keep_caps {
            keep_caps_across_exec();
        }
        libc::execve(a.helper, a.argv.as_ptr(), a.envp.as_ptr());
        contain::fail(rep, Stage::Helper)
    }
}

/// Makes every capability the child holds in its new user namespace
/// ambient, so that the helper keeps them after `execve`: a process whose
/// uid inside the namespace is not 0 (an unprivileged host's identity map)
/// would otherwise lose them all on `execve`. The helper clears the
/// ambient set first thing, so the runtime never inherits it.
///
/// # Safety
/// Raw capability system calls on stack memory only.
unsafe fn keep_caps_across_exec() {
    use scriptcage_helper::contain::caps;
    let Some(mut data) = caps::get() else {
        return;
    };
    for d in &mut data {
        d.inheritable = d.permitted;
    }
    if !caps::set(&data) {
        return;
    }
    for cap in 0..64u32 {
        let word = (cap / 32) as usize;
        if data[word].permitted & (1 << (cap % 32)) != 0 {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            );
        }
    }
}

/// Stack of the `CLONE_VM` child: it runs a handful of system calls.
const EXEC_STACK: usize = 64 * 1024;

/// The helper start: a `CLONE_VM` child, created in the run's namespaces,
/// executes the helper binary, which becomes the init. The host's address
/// space is shared with the child until its `execve`, never copied.
fn spawn_helper(
    launch: &Launch,
    helper: &std::ffi::CStr,
    cgroup: Option<&RunCgroup>,
) -> io::Result<RawChild> {
    let pipes = Pipes::new(launch, true)?;
    let plan = plan_memfd(&wire::encode(launch))?;
    let (notify_r, notify_w) = pipe()?;
    let args = ExecArgs {
        helper: helper.as_ptr(),
        argv: [helper.as_ptr(), std::ptr::null()],
        envp: [std::ptr::null()],
        stdin: pipes
            .stdin
            .as_ref()
            .map(|(r, _)| r.as_raw_fd())
            .unwrap_or(-1),
        out: pipes.out.1.as_raw_fd(),
        err: pipes.err.1.as_raw_fd(),
        report: pipes.rep.1.as_raw_fd(),
        plan: plan.as_raw_fd(),
        ready: pipes
            .ready
            .as_ref()
            .map(|(_, w)| w.as_raw_fd())
            .unwrap_or(-1),
        sync: pipes
            .sync
            .as_ref()
            .map(|(r, _)| r.as_raw_fd())
            .unwrap_or(-1),
        exec_notify: notify_w.as_raw_fd(),
        net: pipes.net.as_ref().map(|(_, c)| c.as_raw_fd()).unwrap_or(-1),
        keep_caps: launch.isolation.clone_flags & libc::CLONE_NEWUSER != 0,
        cgroup_tasks: cgroup.map(|c| c.tasks_fds()).unwrap_or([-1; 3]),
    };
    let stack = Stack::new(EXEC_STACK)?;
    let flags = launch.isolation.clone_flags | libc::CLONE_VM | libc::CLONE_PIDFD | libc::SIGCHLD;
    let mut pidfd: c_int = -1;
    // Block every signal around the clone: a host handler must never run
    // in the child, which shares the host's memory.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain signal-mask calls on this thread; the clone runs
    // `exec_helper` on its own stack with `args`, both alive until the
    // child has executed the helper or exited (we wait for that below).
    let pid = unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            exec_helper,
            stack.top(),
            flags,
            &args as *const ExecArgs as *mut libc::c_void,
            &mut pidfd as *mut c_int,
        );
        let e = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(e);
        }
        pid
    };
    // SAFETY: the kernel returned a fresh pidfd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(notify_w);
    // The child joined its cgroups itself.
    let child = pipes.finish(launch, pid, pidfd, None);
    // The child shares our memory until it executes the helper (or exits):
    // `args`, `stack` and `helper` stay alive until the close-on-exec
    // notify pipe reports that moment with EOF.
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading a pipe we own into a local buffer.
        let n = unsafe { libc::read(notify_r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    drop(stack);
    drop(plan);
    child
}

/// An anonymous mapping used as a child's stack.
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

impl Stack {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Stack { base, len })
    }

    /// The stack's top (stacks grow down on every Linux target we build).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our own mapping, 16-byte aligned.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// The encoded plan in a sealed-size memfd, positioned at its start.
fn plan_memfd(bytes: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create with a static name; the fd is owned below.
    let fd = cvt(
        unsafe { libc::memfd_create(c"scriptcage-plan".as_ptr(), libc::MFD_CLOEXEC) } as c_long,
    )? as c_int;
    // SAFETY: fresh descriptor, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    use std::io::{Seek, Write};
    file.write_all(bytes)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    Ok(file.into())
}

/// Locating the helper executable.
pub mod helper {
    use std::ffi::{CStr, CString};
    use std::io;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// The helper's file name for this build's platform, as shipped beside
    /// the `.node` file.
    pub const FILE_NAME: &str =
        concat!("scriptcage-helper.linux-", env!("SCRIPTCAGE_ARCH"), "-gnu");

    /// The helper executable's path: `SCRIPTCAGE_HELPER` if set, else
    /// [`FILE_NAME`] in the directory of the loaded addon.
    pub fn path() -> io::Result<&'static CStr> {
        static PATH: OnceLock<Result<CString, String>> = OnceLock::new();
        PATH.get_or_init(find)
            .as_ref()
            .map(|c| c.as_c_str())
            .map_err(|m| io::Error::new(io::ErrorKind::NotFound, m.clone()))
    }

    fn find() -> Result<CString, String> {
        use std::os::unix::ffi::OsStrExt;
        let candidate = match std::env::var_os("SCRIPTCAGE_HELPER") {
            Some(p) => PathBuf::from(p),
            None => addon_dir()
                .ok_or("cannot tell where the scriptcage addon was loaded from")?
                .join(FILE_NAME),
        };
        let meta = std::fs::metadata(&candidate).map_err(|e| {
            format!(
                "the sandbox helper {} is missing ({e}); rebuild the package (npm run build) or set SCRIPTCAGE_HELPER",
                candidate.display()
            )
        })?;
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(format!(
                "the sandbox helper {} is not an executable file",
                candidate.display()
            ));
        }
        CString::new(candidate.as_os_str().as_bytes())
            .map_err(|_| "helper path contains NUL".into())
    }

    /// The directory of the shared object this code is in.
    fn addon_dir() -> Option<PathBuf> {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the loader's tables for our own symbol.
        let ok = unsafe { libc::dladdr(addon_dir as *const libc::c_void, &mut info) };
        if ok == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr returned a NUL-terminated path owned by the loader.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        use std::os::unix::ffi::OsStrExt;
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        p.parent().map(|d| d.to_path_buf())
    }
}

fn write_id_maps(pid: libc::pid_t, maps: &super::launch::IdMaps) -> io::Result<()> {
    let base = format!("/proc/{pid}");
    if maps.deny_setgroups {
        std::fs::write(format!("{base}/setgroups"), "deny")?;
    }
    std::fs::write(format!("{base}/uid_map"), &maps.uid_map)?;
    std::fs::write(format!("{base}/gid_map"), &maps.gid_map)?;
    Ok(())
}

/// Blocks until the process behind `pidfd` is reaped; used only on error
/// paths right after a kill.
pub fn reap(pidfd: &OwnedFd) -> Option<i32> {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED,
        )
    };
    if r < 0 {
        return None;
    }
    Some(exit_code_from(&info))
}

/// Reaps the process if it has exited, without blocking.
pub fn try_reap(pidfd: &OwnedFd) -> io::Result<Option<i32>> {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if unsafe { info.si_pid() } == 0 {
        return Ok(None);
    }
    Ok(Some(exit_code_from(&info)))
}

/// [`try_reap`], also returning the CPU time (ns) of the process and of
/// everything it reaped, as the kernel accounted it.
pub fn try_reap_with_cpu(pidfd: &OwnedFd) -> io::Result<Option<(i32, u64)>> {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the raw waitid takes a fifth argument, the rusage of the
    // reaped process (itself and its waited-for descendants), which the
    // libc wrapper hides; both out-structures are ours and zeroed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_waitid,
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::c_long,
            &mut info as *mut libc::siginfo_t,
            (libc::WEXITED | libc::WNOHANG) as libc::c_long,
            &mut ru as *mut libc::rusage,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if unsafe { info.si_pid() } == 0 {
        return Ok(None);
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    Ok(Some((
        exit_code_from(&info),
        tv(ru.ru_utime) + tv(ru.ru_stime),
    )))
}

/// The shell convention: the exit status, or 128 + the signal number.
fn exit_code_from(info: &libc::siginfo_t) -> i32 {
    let status = unsafe { info.si_status() };
    if info.si_code == libc::CLD_EXITED {
        status
    } else {
        128 + status
    }
}
