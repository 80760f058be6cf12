//! What a run's init does: build the sandbox, start the runtime with a
//! second fork, supervise it, and end everything the run started.
//!
//! ```text
//! host ──clone(CLONE_VM)──> exec scriptcage-helper = init (pid 1 of a new
//!                           PID namespace, or a subreaper)
//!                             └──fork──> runtime (execve node/bun/sh)
//! ```
//!
//! The same code also runs in a fork-like clone of the host (the older,
//! in-process start, kept selectable for comparison): it therefore uses only
//! raw system calls on memory prepared by [`Launch`], and never allocates
//! and never unwinds. When the runtime exits, or the host asks the init to
//! stop, the init kills everything the run started: in a PID namespace the
//! kernel does it when the init exits; without one the init is a child
//! subreaper and sweeps its children.

use std::io;
use std::os::fd::RawFd;

use libc::c_int;

use crate::launch::{Launch, MountStep, NetBroker, NET_TAG_DNS, NET_TAG_LISTENER};

/// Where a child failed before `exec`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the id maps.
    Sync = 1,
    /// Setting up standard descriptors.
    Fds = 2,
    /// Building the filesystem view.
    Mount = 3,
    /// Entering the new root.
    PivotRoot = 4,
    /// Configuring the loopback interface.
    Loopback = 5,
    /// Forking the runtime.
    Fork = 6,
    /// Applying resource limits.
    Rlimit = 7,
    /// Dropping privileges.
    Ids = 8,
    /// Changing directory.
    Chdir = 9,
    /// `execve` itself.
    Exec = 10,
    /// no_new_privs.
    NoNewPrivs = 11,
    /// Reading the launch plan (helper).
    Plan = 12,
    /// Executing the sandbox helper.
    Helper = 13,
    /// Installing the syscall filter.
    Seccomp = 14,
    /// Joining the run's cgroups.
    Cgroup = 15,
    /// Setting up the network broker's part (listener, DNS stub sockets).
    Broker = 16,
}

impl Stage {
    /// Describes a failure record read from the report pipe.
    pub fn describe(stage: u32, errno: i32) -> String {
        let what = match stage {
            1 => "waiting for the user-namespace maps",
            2 => "setting up standard streams",
            3 => "building the sandbox filesystem",
            4 => "entering the sandbox root",
            5 => "configuring loopback networking",
            6 => "forking the script process",
            7 => "applying resource limits",
            8 => "dropping privileges",
            9 => "changing to the working directory",
            10 => "executing the runtime",
            11 => "setting no_new_privs",
            12 => "reading the launch plan",
            13 => "executing the sandbox helper",
            14 => "installing the syscall filter",
            15 => "joining the run's cgroups",
            16 => "setting up the network broker",
            _ => "starting",
        };
        format!("{what}: {}", io::Error::from_raw_os_error(errno))
    }
}

/// Where the host put the descriptors of a run, for the in-process
/// (fork-like) start.
pub struct ChildFds {
    /// Read end of the stdin pipe, or -1 for `/dev/null`.
    pub stdin: RawFd,
    /// Write end of the readiness pipe, or -1.
    pub ready: RawFd,
    /// Write end of stdout.
    pub out: RawFd,
    /// Write end of stderr.
    pub err: RawFd,
    /// Write end of the failure channel.
    pub report: RawFd,
    /// Read end of the id-map sync pipe, or -1.
    pub sync: RawFd,
}

// ---------------------------------------------------------------------------
// Child side. Everything below runs after `clone` in the child and must stay
// async-signal-safe: no allocation, no locks, no panics.
// ---------------------------------------------------------------------------

const REPORT_FD: c_int = crate::fds::REPORT;

/// Descriptor on which a pooled runtime says it has booted.
pub const READY_FD: c_int = crate::fds::READY;

/// The calling thread's `errno`.
///
/// # Safety
/// Reads thread-local storage; always sound, unsafe only for symmetry with
/// the other child-side helpers.
pub unsafe fn errno() -> i32 {
    *libc::__errno_location()
}

/// Writes a (stage, errno) record to `report` and exits with 127.
///
/// # Safety
/// Child side only: ends the process.
pub unsafe fn fail(report: c_int, stage: Stage) -> ! {
    let e = errno();
    let mut rec = [0u8; 8];
    rec[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    rec[4..].copy_from_slice(&e.to_ne_bytes());
    libc::write(report, rec.as_ptr().cast(), 8);
    libc::_exit(127)
}

/// Fails with `$stage` when the system call result `$e` is negative.
#[macro_export]
macro_rules! check {
    ($e:expr, $report:expr, $stage:expr) => {
        if ($e) < 0 {
            $crate::contain::fail($report, $stage)
        }
    };
}

/// Moves `fd` to `target` (no close-on-exec); safe when `fd == target`.
///
/// # Safety
/// Plain descriptor system calls.
pub unsafe fn move_fd(fd: c_int, target: c_int) -> c_int {
    if fd == target {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        return libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
    }
    libc::dup2(fd, target)
}

/// The init of a run started by a fork-like `clone` of the host (the
/// in-process start): set up signals and descriptors, wait for the id
/// maps, then [`run_init`].
///
/// # Safety
/// Runs in the cloned child of a multi-threaded host: it never allocates.
pub unsafe fn init_main(launch: &Launch, fds: &ChildFds) -> ! {
    // First of all, block the signals the init waits for (so none is lost,
    // including the parent-death signal during setup) and drop the host's
    // signal handlers, which must never run in this copy of the host.
    init_signals(libc::SIG_BLOCK);
    // Raise every descriptor we keep above the standard range first, so the
    // moves below cannot clobber one another.
    let out = libc::fcntl(fds.out, libc::F_DUPFD_CLOEXEC, 10);
    let err = libc::fcntl(fds.err, libc::F_DUPFD_CLOEXEC, 10);
    let rep = libc::fcntl(fds.report, libc::F_DUPFD_CLOEXEC, 10);
    let sync = if fds.sync >= 0 {
        libc::fcntl(fds.sync, libc::F_DUPFD_CLOEXEC, 10)
    } else {
        -1
    };
    let ready = if fds.ready >= 0 {
        libc::fcntl(fds.ready, libc::F_DUPFD_CLOEXEC, 10)
    } else {
        -1
    };
    if out < 0 || err < 0 || rep < 0 {
        libc::_exit(127);
    }
    let input = if fds.stdin >= 0 {
        libc::fcntl(fds.stdin, libc::F_DUPFD_CLOEXEC, 10)
    } else {
        libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC)
    };
    check!(input, rep, Stage::Fds);
    check!(move_fd(input, 0), rep, Stage::Fds);
    check!(move_fd(out, 1), rep, Stage::Fds);
    check!(move_fd(err, 2), rep, Stage::Fds);
    check!(libc::dup3(rep, REPORT_FD, libc::O_CLOEXEC), rep, Stage::Fds);
    // The sync pipe goes above the readiness descriptor, which a pooled
    // process's runtime inherits (no close-on-exec) at a fixed, high number
    // so the runtime's own descriptors are numbered as in a cold run.
    let sync = if sync >= 0 {
        libc::fcntl(sync, libc::F_DUPFD_CLOEXEC, READY_FD + 1)
    } else {
        -1
    };
    if ready >= 0 {
        check!(move_fd(ready, READY_FD), rep, Stage::Fds);
    }
    // Drop every other inherited descriptor: the host's sockets and other
    // runs' pipes must not be held open by this process.
    let mut from = REPORT_FD + 1;
    for keep in [if ready >= 0 { READY_FD } else { -1 }, sync] {
        if keep >= from {
            if keep > from {
                libc::syscall(libc::SYS_close_range, from as u32, (keep - 1) as u32, 0u32);
            }
            from = keep + 1;
        }
    }
    libc::syscall(libc::SYS_close_range, from as u32, u32::MAX, 0u32);
    let rep = REPORT_FD;

    if sync >= 0 {
        let mut b = [0u8; 1];
        if libc::read(sync, b.as_mut_ptr().cast(), 1) != 1 {
            fail(rep, Stage::Sync);
        }
        libc::close(sync);
    }

    run_init(launch, ready >= 0)
}

/// The signals the init waits for with `sigwaitinfo`.
unsafe fn wait_set() -> libc::sigset_t {
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    for s in [
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
    ] {
        libc::sigaddset(&mut set, s);
    }
    set
}

/// Blocks (`SIG_BLOCK`) or sets the mask to exactly (`SIG_SETMASK`) the
/// init's wait set, and resets every handler to its default.
///
/// # Safety
/// Signal-state system calls only.
pub unsafe fn init_signals(how: c_int) {
    let set = wait_set();
    libc::sigprocmask(how, &set, std::ptr::null_mut());
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// The init's work once its descriptors are in place (0–2 the script's
/// streams, 3 the failure channel, 63 the readiness pipe when `ready`):
/// build the sandbox, start the runtime, wait for it, end the run.
///
/// # Safety
/// Never allocates, so that it may run in a fork-like child of the host.
pub unsafe fn run_init(launch: &Launch, ready: bool) -> ! {
    let iso = &launch.isolation;
    let rep = REPORT_FD;
    let wait_set = wait_set();
    // Capabilities carried across the helper's `execve` (ambient) must not
    // reach the runtime; in the in-process start there are none.
    libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
    );
    clear_inheritable_caps();
    libc::setsid();
    // SIGTERM, which the init waits for: when the host dies, the init still
    // sweeps what the run started before it exits (without a PID namespace
    // nothing else would).
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
    // Keep this process's memory (in the in-process start, a copy of the
    // host) and environment out of reach of /proc readers.
    libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);

    if let Some((uid, gid)) = iso.init_ids {
        switch_ids(uid, gid, rep);
    }
    if !iso.mounts.is_empty() {
        build_root(launch, rep);
    }
    if iso.loopback_up {
        loopback_up(rep);
    }
    if let Some(net) = &iso.net {
        dns_stub_sockets(net, rep);
    }
    if iso.deny_nested_userns {
        // Per user namespace; the init owns the run's. Best effort: the
        // seccomp filter refuses the same calls.
        let fd = libc::open(
            c"/proc/sys/user/max_user_namespaces".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if fd >= 0 {
            libc::write(fd, c"0\n".as_ptr().cast(), 2);
            libc::close(fd);
        }
    }
    let pid_ns = libc::getpid() == 1;
    if !pid_ns {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }

    let child = libc::syscall(
        libc::SYS_clone,
        libc::SIGCHLD as libc::c_ulong,
        0usize,
        0usize,
        0usize,
        0usize,
    );
    if child < 0 {
        fail(rep, Stage::Fork);
    }
    if child == 0 {
        runtime_main(launch, rep)
    }
    let child = child as libc::pid_t;
    if iso.net.is_some() {
        // The runtime sends the listener; the init keeps nothing of the
        // host's channel.
        libc::close(crate::fds::NET);
    }
    // Release the streams and the report channel: the host sees EOF once
    // the runtime and everything it started are gone.
    libc::close(0);
    libc::close(1);
    libc::close(2);
    libc::close(rep);
    if ready {
        libc::close(READY_FD);
    }

    let mut code = 0;
    loop {
        let sig = libc::sigwaitinfo(&wait_set, std::ptr::null_mut());
        if sig == libc::SIGCHLD || sig < 0 {
            let mut done = false;
            loop {
                let mut status = 0;
                let r = libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL);
                if r <= 0 {
                    break;
                }
                if r == child {
                    code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    done = true;
                }
            }
            if done {
                break;
            }
        } else {
            // The host asks the run to end.
            code = 128 + libc::SIGKILL;
            break;
        }
    }
    kill_everything(pid_ns, child);
    libc::_exit(code)
}

/// The calling thread's capability sets, through raw `capget`/`capset`
/// (no allocation; usable in any child).
pub mod caps {
    use libc::c_int;

    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }

    /// One 32-bit word of each set (`_LINUX_CAPABILITY_VERSION_3` has two).
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    pub struct Sets {
        /// Effective.
        pub effective: u32,
        /// Permitted.
        pub permitted: u32,
        /// Inheritable.
        pub inheritable: u32,
    }

    fn header() -> Header {
        Header {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        }
    }

    /// The current sets, or `None` when `capget` fails.
    ///
    /// # Safety
    /// A raw system call on stack memory.
    pub unsafe fn get() -> Option<[Sets; 2]> {
        let mut hdr = header();
        let mut data = [Sets::default(); 2];
        (libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) >= 0).then_some(data)
    }

    /// Sets all three sets; false when `capset` fails.
    ///
    /// # Safety
    /// A raw system call on stack memory.
    pub unsafe fn set(data: &[Sets; 2]) -> bool {
        let mut hdr = header();
        libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) >= 0
    }
}

/// Empties the inheritable capability set (filled by the host's spawning
/// child to carry capabilities across the helper's `execve`): inherited by
/// the runtime, it could combine with a file's inheritable capabilities.
unsafe fn clear_inheritable_caps() {
    let Some(mut data) = caps::get() else {
        return;
    };
    if data.iter().all(|d| d.inheritable == 0) {
        return;
    }
    for d in &mut data {
        d.inheritable = 0;
    }
    caps::set(&data);
}

/// Kills every process of the run and reaps them.
unsafe fn kill_everything(pid_ns: bool, runtime: libc::pid_t) {
    if pid_ns {
        // As pid 1 of the run's own namespace, -1 reaches exactly the run.
        libc::kill(-1, libc::SIGKILL);
        while libc::waitpid(-1, std::ptr::null_mut(), libc::__WALL) > 0 {}
        return;
    }
    // The runtime leads its own process group (the init must survive this
    // to report the exit code).
    libc::kill(-runtime, libc::SIGKILL);
    libc::kill(runtime, libc::SIGKILL);
    // Orphans of the run were re-parented to us (we are a subreaper): read
    // our children list, kill, reap, until none is left.
    let mut path = [0u8; 64];
    let len = proc_children_path(&mut path, libc::getpid());
    let _ = len;
    for _ in 0..10_000 {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        let mut any = false;
        if fd >= 0 {
            let mut buf = [0u8; 4096];
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            let mut cur: i32 = 0;
            let mut digits = false;
            for &b in buf.iter().take(n.max(0) as usize) {
                if b.is_ascii_digit() {
                    cur = cur * 10 + (b - b'0') as i32;
                    digits = true;
                } else if digits {
                    libc::kill(cur, libc::SIGKILL);
                    any = true;
                    cur = 0;
                    digits = false;
                }
            }
            if digits {
                libc::kill(cur, libc::SIGKILL);
                any = true;
            }
        }
        let mut reaped = false;
        while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) > 0 {
            reaped = true;
        }
        if !any && !reaped {
            if libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) < 0 {
                break; // ECHILD: nothing left
            }
            libc::usleep(1000);
        }
    }
}

/// Writes `/proc/<pid>/task/<pid>/children\0` into `buf`.
fn proc_children_path(buf: &mut [u8; 64], pid: libc::pid_t) -> usize {
    let mut digits = [0u8; 12];
    let mut n = pid as u32;
    let mut d = 0;
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut i = 0;
    let mut put = |bytes: &[u8], i: &mut usize| {
        for &b in bytes {
            buf[*i] = b;
            *i += 1;
        }
    };
    put(b"/proc/", &mut i);
    for k in (0..d).rev() {
        put(&[digits[k]], &mut i);
    }
    put(b"/task/", &mut i);
    for k in (0..d).rev() {
        put(&[digits[k]], &mut i);
    }
    put(b"/children\0", &mut i);
    i
}

unsafe fn build_root(launch: &Launch, rep: c_int) {
    let iso = &launch.isolation;
    check!(
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null()
        ),
        rep,
        Stage::Mount
    );
    for step in &iso.mounts {
        match step {
            MountStep::Dir(p) => {
                if libc::mkdir(p.as_ptr(), 0o755) < 0 && errno() != libc::EEXIST {
                    fail(rep, Stage::Mount);
                }
            }
            MountStep::File(p) => {
                let fd = libc::open(
                    p.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                check!(fd, rep, Stage::Mount);
                libc::close(fd);
            }
            MountStep::Symlink { target, path } => {
                if libc::symlink(target.as_ptr(), path.as_ptr()) < 0 && errno() != libc::EEXIST {
                    fail(rep, Stage::Mount);
                }
            }
            MountStep::Tmpfs { target, data } => {
                check!(
                    libc::mount(
                        c"tmpfs".as_ptr(),
                        target.as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        data.as_ptr().cast()
                    ),
                    rep,
                    Stage::Mount
                );
            }
            MountStep::Bind {
                source,
                target,
                readonly,
                recursive,
            } => {
                let rec = if *recursive { libc::MS_REC } else { 0 };
                check!(
                    libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | rec,
                        std::ptr::null()
                    ),
                    rep,
                    Stage::Mount
                );
                if *readonly {
                    // A remount inside a user namespace must keep the flags
                    // the kernel locked on the original mount.
                    // statfs, not statvfs: glibc's statvfs may fall back to
                    // parsing /proc/mounts, which allocates.
                    let mut st: KernelStatfs = std::mem::zeroed();
                    check!(
                        libc::syscall(libc::SYS_statfs, target.as_ptr(), &mut st) as c_int,
                        rep,
                        Stage::Mount
                    );
                    let mut flags =
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID;
                    for (st_flag, ms_flag) in [
                        (libc::ST_NODEV, libc::MS_NODEV),
                        (libc::ST_NOEXEC, libc::MS_NOEXEC),
                        (libc::ST_NOATIME, libc::MS_NOATIME),
                        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
                        (libc::ST_RELATIME, libc::MS_RELATIME),
                    ] {
                        if st.f_flags as u64 & st_flag != 0 {
                            flags |= ms_flag;
                        }
                    }
                    check!(
                        libc::mount(
                            std::ptr::null(),
                            target.as_ptr(),
                            std::ptr::null(),
                            flags,
                            std::ptr::null()
                        ),
                        rep,
                        Stage::Mount
                    );
                }
            }
            MountStep::Proc(p) => {
                check!(
                    libc::mount(
                        c"proc".as_ptr(),
                        p.as_ptr(),
                        c"proc".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        std::ptr::null()
                    ),
                    rep,
                    Stage::Mount
                );
            }
        }
    }
    let Some(root) = iso.new_root.as_ref() else {
        return;
    };
    check!(libc::chdir(root.as_ptr()), rep, Stage::PivotRoot);
    check!(
        libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as c_int,
        rep,
        Stage::PivotRoot
    );
    check!(
        libc::umount2(c".".as_ptr(), libc::MNT_DETACH),
        rep,
        Stage::PivotRoot
    );
    check!(libc::chdir(c"/".as_ptr()), rep, Stage::PivotRoot);
    // The skeleton root itself is read-only; only the mounted scratch
    // directories accept writes.
    check!(
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            std::ptr::null()
        ),
        rep,
        Stage::PivotRoot
    );
}

unsafe fn loopback_up(rep: c_int) {
    let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    check!(sock, rep, Stage::Loopback);
    let mut req: libc::ifreq = std::mem::zeroed();
    req.ifr_name[0] = b'l' as libc::c_char;
    req.ifr_name[1] = b'o' as libc::c_char;
    check!(
        libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req),
        rep,
        Stage::Loopback
    );
    req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    check!(
        libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut req),
        rep,
        Stage::Loopback
    );
    libc::close(sock);
}

/// The kernel's `struct statfs` on 64-bit Linux (the `libc` crate hides
/// `f_flags`).
#[repr(C)]
struct KernelStatfs {
    f_type: libc::c_long,
    f_bsize: libc::c_long,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [c_int; 2],
    f_namelen: libc::c_long,
    f_frsize: libc::c_long,
    f_flags: libc::c_long,
    f_spare: [libc::c_long; 4],
}

/// Switches the calling thread to `uid`/`gid` with no supplementary groups.
///
/// Raw system calls on purpose: glibc's `setresuid` & co. broadcast the
/// change to every thread it knows of, under a lock that another thread of
/// the host may have held at the moment of the `clone` (and with a thread
/// list that still names the host's threads) — a deadlock in the child. The
/// child has exactly one thread, so the raw calls are complete.
unsafe fn switch_ids(uid: libc::uid_t, gid: libc::gid_t, rep: c_int) {
    // Refused after `setgroups deny`, where the list is already empty.
    libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>());
    check!(
        libc::syscall(libc::SYS_setresgid, gid, gid, gid) as c_int,
        rep,
        Stage::Ids
    );
    check!(
        libc::syscall(libc::SYS_setresuid, uid, uid, uid) as c_int,
        rep,
        Stage::Ids
    );
}

unsafe fn runtime_main(launch: &Launch, rep: c_int) -> ! {
    let iso = &launch.isolation;
    // The host ignores some signals (SIGPIPE under Node); a script process
    // starts with default dispositions and nothing blocked.
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    libc::setpgid(0, 0);

    for &(res, soft, hard) in &iso.rlimits {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        check!(libc::setrlimit(res as _, &lim), rep, Stage::Rlimit);
    }
    if iso.no_new_privs {
        // Empty the capability bounding set while the process may still
        // (it needs CAP_SETPCAP in its namespace); errors mean there was
        // nothing to drop.
        for cap in 0..=libc::c_ulong::from(63u8) {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
    }
    if let Some((uid, gid)) = iso.ids {
        switch_ids(uid, gid, rep);
    }
    if iso.no_new_privs {
        check!(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            rep,
            Stage::NoNewPrivs
        );
    }
    if let Some(cwd) = &launch.cwd {
        check!(libc::chdir(cwd.as_ptr()), rep, Stage::Chdir);
    }
    // Last before `execve`: from here on the filter holds for the runtime
    // and everything it starts.
    for prog in &iso.seccomp {
        let fprog = libc::sock_fprog {
            len: prog.len() as libc::c_ushort,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        check!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &fprog as *const libc::sock_fprog as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ),
            rep,
            Stage::Seccomp
        );
    }
    if let Some(net) = &iso.net {
        // After every other program: the kernel applies the strictest
        // answer, so the EPERM/ENOSYS programs still win over a
        // notification. The listener goes to the host's broker and is not
        // kept here: the script cannot answer its own notifications.
        let fprog = libc::sock_fprog {
            len: net.notify.len() as libc::c_ushort,
            filter: net.notify.as_ptr() as *mut libc::sock_filter,
        };
        let listener = libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        ) as c_int;
        check!(listener, rep, Stage::Broker);
        check!(
            send_fds(crate::fds::NET, NET_TAG_LISTENER, &[listener]),
            rep,
            Stage::Broker
        );
        libc::close(listener);
        libc::close(crate::fds::NET);
    }
    libc::execve(launch.exe.as_ptr(), launch.argv_ptrs(), launch.envp_ptrs());
    fail(rep, Stage::Exec)
}

/// Most name servers a run's DNS stub listens for.
pub const MAX_DNS: usize = 8;

/// Sends a one-byte `tag` with `fds` (at most [`MAX_DNS`]) over the unix
/// socket `sock`, on stack memory only. Returns the `sendmsg` result.
///
/// # Safety
/// Raw system call on stack buffers.
pub unsafe fn send_fds(sock: c_int, tag: u8, fds: &[c_int]) -> c_int {
    let n = fds.len().min(MAX_DNS);
    let mut byte = [tag];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // cmsghdr (16 bytes on 64-bit) + up to MAX_DNS descriptors, aligned.
    let mut buf = [0u64; 2 + MAX_DNS / 2];
    let space = libc::CMSG_SPACE((n * 4) as u32) as usize;
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if n > 0 {
        msg.msg_control = buf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN((n * 4) as u32) as _;
        let data = libc::CMSG_DATA(cmsg) as *mut c_int;
        for (i, &fd) in fds.iter().take(n).enumerate() {
            *data.add(i) = fd;
        }
    }
    libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) as c_int
}

/// Makes the host's name servers exist inside the run's network namespace
/// and sends UDP sockets bound to `<server>:53` there to the host, where
/// the DNS stub answers them.
unsafe fn dns_stub_sockets(net: &NetBroker, rep: c_int) {
    let ctl = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    check!(ctl, rep, Stage::Broker);
    let mut socks = [-1 as c_int; MAX_DNS];
    let mut n = 0;
    for (i, addr) in net.dns.iter().take(MAX_DNS).enumerate() {
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 53u16.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(*addr),
            },
            sin_zero: [0; 8],
        };
        if addr[0] != 127 {
            // An alias `lo:N` carrying the server's address as a /32.
            let mut req: libc::ifreq = std::mem::zeroed();
            for (k, &b) in [b'l', b'o', b':', b'0' + i as u8].iter().enumerate() {
                req.ifr_name[k] = b as libc::c_char;
            }
            let mut a = sin;
            a.sin_port = 0;
            std::ptr::copy_nonoverlapping(
                (&a as *const libc::sockaddr_in).cast::<u8>(),
                &mut req.ifr_ifru as *mut _ as *mut u8,
                std::mem::size_of::<libc::sockaddr_in>(),
            );
            check!(
                libc::ioctl(ctl, libc::SIOCSIFADDR, &mut req),
                rep,
                Stage::Broker
            );
            let mut mask = a;
            mask.sin_addr.s_addr = u32::MAX;
            std::ptr::copy_nonoverlapping(
                (&mask as *const libc::sockaddr_in).cast::<u8>(),
                &mut req.ifr_ifru as *mut _ as *mut u8,
                std::mem::size_of::<libc::sockaddr_in>(),
            );
            check!(
                libc::ioctl(ctl, libc::SIOCSIFNETMASK, &mut req),
                rep,
                Stage::Broker
            );
        }
        let s = libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        check!(s, rep, Stage::Broker);
        check!(
            libc::bind(
                s,
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32
            ),
            rep,
            Stage::Broker
        );
        socks[n] = s;
        n += 1;
    }
    libc::close(ctl);
    check!(
        send_fds(crate::fds::NET, NET_TAG_DNS, &socks[..n]),
        rep,
        Stage::Broker
    );
    for &s in &socks[..n] {
        libc::close(s);
    }
}
